import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATED_DIR, generateTypes } from '../../src/proto/generate.ts';

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), readFileSync(path, 'utf8'));
  }
  return out;
}

describe('types generated from proto/', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'proto-types-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));

  it('are exactly what regenerating from the .proto files gives (run `npm run proto:types` after editing proto/)', () => {
    generateTypes(fresh);
    const generated = files(fresh);
    const checkedIn = files(GENERATED_DIR);
    expect([...checkedIn.keys()].sort()).toEqual([...generated.keys()].sort());
    expect(generated.size).toBeGreaterThan(0);
    for (const [path, text] of generated) expect(checkedIn.get(path), path).toBe(text);
  });
});
