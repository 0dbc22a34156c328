/**
 * Runs a page in headless Chromium (the Debian package that e2e/infra/setup.sh
 * installs): serves the page and a folder of scripts over HTTP on loopback, and
 * resolves with the JSON the page POSTs to `/result`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

export interface PageServer {
  origin: string;
  /** Opens `/?<query>` in Chromium and resolves with what the page reported, or rejects after `timeoutMs`. */
  run(query: URLSearchParams, timeoutMs?: number): Promise<unknown>;
  stop(): Promise<void>;
}

/** `page` is served at `/`, the `.js` files of `scriptsDir` at `/dist/<name>`. */
export async function servePage(page: string, scriptsDir: string): Promise<PageServer> {
  let report: ((result: unknown) => void) | null = null;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page');
    if (req.method === 'POST' && url.pathname === '/result') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.end();
        report?.(JSON.parse(body));
      });
      return;
    }
    if (url.pathname === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page);
      return;
    }
    if (url.pathname.startsWith('/dist/') && url.pathname.endsWith('.js')) {
      readFile(join(scriptsDir, basename(url.pathname))).then(
        (script) => {
          res.setHeader('content-type', 'text/javascript; charset=utf-8');
          res.end(script);
        },
        () => {
          res.statusCode = 404;
          res.end();
        },
      );
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('page server not listening');
  const origin = `http://127.0.0.1:${address.port}`;

  return {
    origin,
    async run(query, timeoutMs = 30_000) {
      const profile = await mkdtemp(join(tmpdir(), 'im-gateway-chromium-'));
      const result = new Promise<unknown>((resolve) => (report = resolve));
      // Its own process group, so that stopping it stops its renderer and GPU processes too.
      const browser = spawn(CHROMIUM, [
        '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
        '--disable-extensions', `--user-data-dir=${profile}`, `${origin}/?${query}`,
      ], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      browser.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
      const exited = new Promise<void>((resolve) => browser.once('exit', () => resolve()));
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          result,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no result from the page in ${timeoutMs} ms; chromium said:\n${stderr}`)), timeoutMs);
          }),
          new Promise((_, reject) => {
            browser.once('error', (err) => reject(new Error(`cannot start ${CHROMIUM}: ${err.message}`)));
          }),
        ]);
      } finally {
        clearTimeout(timer);
        report = null;
        if (browser.pid !== undefined && browser.exitCode === null) {
          try {
            process.kill(-browser.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
          await exited;
        }
        await rm(profile, { recursive: true, force: true });
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
