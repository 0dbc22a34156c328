// What `npm run client:build` emits is what a browser imports without a
// bundler: plain ESM whose relative imports name `.js` files that exist, and
// nothing of Node's. Built here into a temporary folder and used against a
// real gateway, from Node and from a page in Chromium.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, token, type RunningGateway } from '../../../gateway/test/support/gateway.ts';
import type * as Sdk from '../../src/index.ts';
import { servePage, type PageServer } from '../support/browser.ts';

const CLIENT_DIR = fileURLToPath(new URL('../..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('the built SDK', () => {
  let outDir: string;
  let gw: RunningGateway;
  let page: PageServer;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'im-gateway-client-'));
    await promisify(execFile)(process.execPath, [TSC, '-p', join(CLIENT_DIR, 'tsconfig.json'), '--outDir', outDir]);
    page = await servePage(PAGE, outDir);
    // As in production: only the app's own origin may open sockets.
    gw = await startGateway({ ALLOWED_ORIGINS: page.origin });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
    await page?.stop();
    if (outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  it('imports only files of its own, by their .js names, and nothing of Node', async () => {
    const files = (await readdir(outDir)).filter((f) => f.endsWith('.js'));
    expect(files).toContain('index.js');
    let imports = 0;
    for (const file of files) {
      const text = await readFile(join(outDir, file), 'utf8');
      for (const [, specifier] of text.matchAll(/(?:import|export)[^'"]*from\s*["']([^"']+)["']/g)) {
        imports++;
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\/[\w-]+\.js$/);
        expect(existsSync(join(dirname(join(outDir, file)), specifier!)), `${file} imports ${specifier}`).toBe(true);
      }
      expect(text, file).not.toMatch(/\brequire\(|\bprocess\.|["']node:/);
    }
    expect(imports).toBeGreaterThan(5);
    expect(existsSync(join(outDir, 'index.d.ts'))).toBe(true);
  });

  it('connects, sends and receives from dist/index.js', async () => {
    const sdk = (await import(pathToFileURL(join(outDir, 'index.js')).href)) as typeof Sdk;
    const writer = new sdk.GatewayClient({ url: gw.wsUrl, token: await token('writer', 'web') });
    const reader = new sdk.GatewayClient({ url: gw.wsUrl, token: () => token('reader', 'web') });
    const got: Sdk.Message[] = [];
    reader.on('message', (m) => got.push(m));
    try {
      await Promise.all([writer.connect(), reader.connect()]);
      const ack = await writer.send('reader', 'from dist');
      await expect.poll(() => got.map((m) => m.content)).toEqual(['from dist']);
      expect(got[0]!.sequenceNumber).toBe(ack.sequenceNumber);
      await expect(writer.send('', 'x')).rejects.toBeInstanceOf(sdk.GatewayError);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('runs in a browser: Chromium imports dist/index.js, connects with the token as a subprotocol, sends and receives', async () => {
    const query = new URLSearchParams({
      ws: gw.wsUrl,
      writer: await token('browser-writer', 'tab'),
      reader: await token('browser-reader', 'tab'),
    });
    const result = (await page.run(query)) as { error?: string; ack?: Sdk.SendAck; message?: Partial<Sdk.Message>; states?: string[] };
    expect(result.error).toBeUndefined();
    expect(result.ack).toMatchObject({ status: 'delivered', sequenceNumber: expect.any(Number) });
    expect(result.message).toEqual({
      msgId: result.ack!.msgId, senderId: 'browser-writer', conversation: 'user:browser-writer', content: 'from a browser',
      sequenceNumber: result.ack!.sequenceNumber,
    });
    expect(result.states).toEqual(['connecting', 'connected', 'closed']);
  }, 60_000);
});

/** The page: two clients in one tab, one sends to the other; reports what happened to `/result`. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>SDK in a browser</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const report = (result) => fetch('/result', { method: 'POST', body: JSON.stringify(result) });
  try {
    const { GatewayClient } = await import('/dist/index.js');
    const writer = new GatewayClient({ url: params.get('ws'), token: params.get('writer') });
    const reader = new GatewayClient({ url: params.get('ws'), token: async () => params.get('reader') });
    const states = [];
    writer.on('state', (s) => states.push(s.state));
    const received = new Promise((resolve) => reader.on('message', resolve));
    await Promise.all([writer.connect(), reader.connect()]);
    const ack = await writer.send('browser-reader', 'from a browser');
    const m = await received;
    await Promise.all([writer.close(), reader.close()]);
    await report({
      ack, states,
      message: { msgId: m.msgId, senderId: m.senderId, conversation: m.conversation, content: m.content, sequenceNumber: m.sequenceNumber },
    });
  } catch (err) {
    await report({ error: String(err && err.stack || err) });
  }
</script>
`;
