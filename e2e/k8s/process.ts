// A control-plane binary as a child process, its output in a log file that
// failures quote, and a stop that always ends it.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';

// setpriv --pdeathsig: the kernel kills the child when the test process dies
// without running its teardown (a crash, a SIGKILL from the test runner), so
// no etcd or apiserver outlives the run.
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = (() => {
  try {
    accessSync(SETPRIV, constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

export class ChildService {
  readonly name: string;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private exitCode: number | string | null = null;
  private readonly exited: Promise<void>;

  constructor(name: string, command: string, args: string[], logFile: string) {
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    const [file, argv] = hasSetpriv ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
    try {
      this.child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '' } });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? signal ?? 'unknown';
        resolve();
      });
      // A failed spawn (missing binary) emits 'error' and no 'exit'.
      this.child.once('error', (error) => {
        this.exitCode ??= `spawn error: ${error.message}`;
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Throws, with the log's tail, if the process has exited. */
  assertRunning(): void {
    if (!this.running) throw new Error(`${this.name} exited (${this.exitCode}); log ${this.logFile}:\n${this.tail()}`);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
