/** Plain-text tables for the report on stdout. */

export function table(title: string, headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  return [title, line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line), ''].join('\n');
}

function cell(value: string | number): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return '-';
  return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
}
