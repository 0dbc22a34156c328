/** The operator as its own process (operator/src/main.ts), so a test can SIGKILL a leader. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lines } from '../fleet/gateway-process.ts';
import { freePort } from '../infra/net.ts';

const OPERATOR_MAIN = fileURLToPath(new URL('../../operator/src/main.ts', import.meta.url));

export class OperatorProcess {
  readonly identity: string;
  readonly logs: string[] = [];
  private readonly env: Record<string, string>;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(identity: string, env: Record<string, string>) {
    this.identity = identity;
    this.env = env;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [OPERATOR_MAIN], {
      env: { PATH: process.env.PATH ?? '', POD_NAME: this.identity, HEALTH_PORT: String(await freePort()), HEALTH_HOST: '127.0.0.1', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    lines(child.stdout!, (line) => this.logs.push(line));
    lines(child.stderr!, (line) => this.logs.push(line));
  }

  /** SIGKILL: the operator pod dies without releasing its lease. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  logged(event: string): boolean {
    return this.logs.some((l) => l.includes(`"event":"${event}"`));
  }
}
