/** Structured logs: one JSON object per line on stdout. No message content at info level. */

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: Level, base: Record<string, unknown> = {}, write = defaultWrite): Logger {
  const min = RANK[level];
  const emit = (lvl: Level, event: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, event, ...base, ...fields }));
  };
  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}

function defaultWrite(line: string): void {
  process.stdout.write(line + '\n');
}

/** For errors in log fields: the message, not the whole object. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
