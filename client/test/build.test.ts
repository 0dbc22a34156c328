// What `npm run client:build` emits is what a browser imports without a
// bundler: plain ESM whose relative imports name `.js` files that exist, and
// nothing of Node's. Built here into a temporary folder and used against a
// real gateway.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, token, type RunningGateway } from '../../gateway/test/support/gateway.ts';
import type * as Sdk from '../src/index.ts';

const CLIENT_DIR = fileURLToPath(new URL('..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('the built SDK', () => {
  let outDir: string;
  let gw: RunningGateway;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'im-gateway-client-'));
    await promisify(execFile)(process.execPath, [TSC, '-p', join(CLIENT_DIR, 'tsconfig.json'), '--outDir', outDir]);
    gw = await startGateway();
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
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
});
