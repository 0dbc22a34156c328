/**
 * The orchestrator's side of the load workers: forks them on this Node binary
 * and turns their IPC replies into promises. Each worker is its own process
 * with its own file limit, which is what lets a run hold more client sockets
 * than one process may open.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command, ConnSpec, OpenResult, Reply, TargetSpec } from './protocol.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Client sockets one worker is given at most: under the 20,000 per-process file limit, with room to spare. */
export const SOCKETS_PER_WORKER = 16_000;

let addressCounter = 0;
/** Sockets bound to one source address at most. */
const SOCKETS_PER_ADDRESS = 1000;

/**
 * Loopback source addresses not handed out before in this run, one per
 * 1,000 sockets. A client bound to an address draws its port from that
 * address's ephemeral range, and the kernel's search for a free port slows
 * down as the range fills (10,000 sockets on one address connect three times
 * slower than spread over ten); closed sockets also keep their port in
 * TIME_WAIT for a minute, so every batch gets addresses of its own.
 */
export function freshLocalAddresses(sockets: number): string[] {
  return Array.from({ length: Math.max(1, Math.ceil(sockets / SOCKETS_PER_ADDRESS)) }, () => {
    const n = addressCounter++;
    return `127.0.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
  });
}

class Worker {
  readonly index: number;
  readonly child: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(index: number) {
    this.index = index;
    this.child = fork(WORKER, [], {
      execPath: process.execPath,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.seq);
      if (waiter === undefined) return;
      this.pending.delete(reply.seq);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`load worker ${index}: ${reply.error}`));
    });
    this.child.once('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load worker ${index} exited with ${code}`));
      this.pending.clear();
    });
  }

  call<T>(command: Command): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, seq });
    });
  }
}

export class LoadPool {
  readonly workers: Worker[];

  constructor(count: number) {
    this.workers = Array.from({ length: count }, (_, i) => new Worker(i));
  }

  get size(): number {
    return this.workers.length;
  }

  call<T>(worker: number, command: Command): Promise<T> {
    return this.workers[worker]!.call<T>(command);
  }

  /** The same command to every worker, or one per worker when given a function. */
  all<T>(command: Command | ((worker: number) => Command)): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.call<T>(typeof command === 'function' ? command(w.index) : command)));
  }

  /** Opens each worker's share of connections to `target`, every share from fresh source addresses; the results summed. */
  async open(target: TargetSpec, shares: readonly ConnSpec[][], concurrency: number, timeoutMs: number): Promise<OpenResult> {
    const results = await this.all<OpenResult>((w) => ({
      op: 'open',
      target,
      conns: shares[w]!,
      localAddresses: freshLocalAddresses(shares[w]!.length),
      concurrency,
      timeoutMs,
    }));
    return mergeOpen(results);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.call({ op: 'close' })));
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            w.child.disconnect();
            setTimeout(() => w.child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }
}

/** Splits `items` into `parts` nearly equal runs, in order. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < parts; i++) out.push(items.slice(i * size, (i + 1) * size));
  return out;
}

/** The workers' open results as one: counts summed, the slowest worker's time. */
function mergeOpen(results: OpenResult[]): OpenResult {
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
  return {
    opened: results.reduce((n, r) => n + r.opened, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    ms: Math.max(...results.map((r) => r.ms)),
    errors,
  };
}
