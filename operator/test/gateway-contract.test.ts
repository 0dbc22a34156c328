// The operator reaches the gateway's code through one module only
// (gateway/src/operator-contract.ts): a deep import would tie it to internals.
import { globSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

describe('the operator and the gateway', () => {
  it('share code through gateway/src/operator-contract.ts alone', () => {
    const files = globSync('**/*.ts', { cwd: SRC });
    expect(files.length).toBeGreaterThan(20);
    const deep = files.flatMap((file) =>
      [...readFileSync(`${SRC}/${file}`, 'utf8').matchAll(/from '([^']*gateway\/src\/[^']*)'/g)]
        .map((m) => m[1]!)
        .filter((path) => !path.endsWith('gateway/src/operator-contract.ts'))
        .map((path) => `${file}: ${path}`),
    );
    expect(deep).toEqual([]);
  });
});
