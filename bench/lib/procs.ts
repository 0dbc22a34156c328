/**
 * Child processes of a benchmark run: servers under test (the gateway, the
 * baselines) and their CPU time. Every child runs on this same Node binary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const LOOPBACK = '127.0.0.1';
export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/src/main.ts', import.meta.url));

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly tail: string[] = [];
  /** The first 64 KB of output, for waitFor. */
  private head = '';
  private readonly watchers = new Set<() => void>();

  constructor(name: string, script: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []) {
    this.name = name;
    this.process = spawn(process.execPath, [...nodeArgs, script, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.tail.push(text);
      if (this.tail.length > 40) this.tail.shift();
      if (this.head.length < 65_536) this.head += text;
      for (const watcher of this.watchers) watcher();
    };
    this.process.stdout!.on('data', keep);
    this.process.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Resolves with the first match of `pattern` in the process's early output. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(this.head);
        if (match === null) return;
        this.watchers.delete(check);
        clearTimeout(timer);
        resolve(match);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.output()}`));
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  output(): string {
    return this.tail.join('').split('\n').slice(-25).join('\n');
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A loopback port free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200, or throws with the child's output. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.alive) throw new Error(`${child.name} exited before serving:\n${child.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not serve ${url} within ${timeoutMs} ms:\n${child.output()}`);
}

const TICKS_PER_SECOND = 100;

/** User + system CPU seconds of a process, from /proc (Linux). */
export function procCpuSeconds(pid: number): number {
  const times = procCpuTimes(pid);
  return times === null ? NaN : times.user + times.kernel;
}

/** User and system CPU seconds of a process apart, or null when it is gone. */
export function procCpuTimes(pid: number | string): { user: number; kernel: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / TICKS_PER_SECOND, kernel: Number(fields[12]) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** Busy and total jiffies of the whole machine, to tell a noisy neighbour from the load under test. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}
