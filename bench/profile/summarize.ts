/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and tells where the time
 * went: by area (the gateway's code, `ws`, Node internals, GC, ...), the
 * functions with the most self time, and the gateway functions with the
 * most inclusive time (their callees counted).
 *   node bench/profile/summarize.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  /** Profiled wall time and the time the thread was busy (not idle), ms. */
  totalMs: number;
  busyMs: number;
  /** Share of busy time, %. */
  areas: Array<{ area: string; pct: number }>;
  self: Array<{ fn: string; pct: number }>;
  gatewayInclusive: Array<{ fn: string; pct: number }>;
}

function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)' || name === '(root)') return 'V8/native (program)';
  if (url.includes('/gateway/src/')) return 'gateway/src';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith('node:')) return 'node internals';
  if (url === '') return 'native/builtins';
  return 'other';
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/(gateway\/src|node_modules)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}${url === '' ? '' : `:${lineNumber + 1}`}`;
}

export function summarize(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  let total = 0;
  let idle = 0;
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    total += us;
    const a = area(node.callFrame.url, node.callFrame.functionName);
    if (a === 'idle') {
      idle += us;
      continue;
    }
    areas.set(a, (areas.get(a) ?? 0) + us);
    self.set(label(node), (self.get(label(node)) ?? 0) + us);
  }

  // Inclusive time of gateway functions: each sample counts once per distinct gateway function on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)!;
      if (!node.callFrame.url.includes('/gateway/src/')) continue;
      const key = label(node);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }

  const busy = Math.max(1, total - idle);
  const ranked = (m: Map<string, number>, n: number, key: 'area' | 'fn'): Array<Record<string, string | number>> =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => ({ [key]: k, pct: Math.round((1000 * us) / busy) / 10 }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    areas: ranked(areas, 20, 'area') as ProfileSummary['areas'],
    self: ranked(self, top, 'fn') as ProfileSummary['self'],
    gatewayInclusive: ranked(inclusive, top, 'fn') as ProfileSummary['gatewayInclusive'],
  };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms profiled (percentages are of busy time)`, '', 'by area:'];
  for (const a of s.areas) lines.push(`  ${String(a.pct).padStart(5)}%  ${a.area}`);
  lines.push('', 'self time:');
  for (const f of s.self) lines.push(`  ${String(f.pct).padStart(5)}%  ${f.fn}`);
  lines.push('', 'gateway functions, inclusive time:');
  for (const f of s.gatewayInclusive) lines.push(`  ${String(f.pct).padStart(5)}%  ${f.fn}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node bench/profile/summarize.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(summarize(file, Number(top ?? 25))) + '\n');
}
