// Every test file runs in exactly one project of vitest.config.ts: a file no
// project matches would silently never run.
import { globSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_KINDS } from '../../../vitest.config.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

describe('test projects', () => {
  it('put every test file in exactly one kind', () => {
    const files = globSync('**/*.test.ts', { cwd: ROOT, exclude: (name) => name === 'node_modules' || name === '.git' });
    expect(files.length).toBeGreaterThan(50);
    const kindsOf = new Map<string, string[]>(files.map((f) => [f, []]));
    for (const [kind, patterns] of Object.entries(TEST_KINDS)) {
      for (const f of globSync(patterns, { cwd: ROOT })) kindsOf.get(f)?.push(kind);
    }
    const wrong = [...kindsOf].filter(([, kinds]) => kinds.length !== 1).map(([f, kinds]) => `${f}: ${kinds.join(', ') || 'none'}`);
    expect(wrong).toEqual([]);
  });
});
