import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `op(0)` .. `op(total - 1)` spread evenly at `rate` a second (the
 * calls of each millisecond in that millisecond's turn of the event loop, as
 * a server's sends would come), waits for all of them, and returns this
 * process's CPU time per call, in µs. For the micro-benchmarks.
 */
export async function cpuPerCall(rate: number, total: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const pending: Array<Promise<unknown>> = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(op(i));
  }
  await Promise.all(pending);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / total;
}
