import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['gateway/test/**/*.test.ts', 'client/test/**/*.test.ts', 'docs/api/test/**/*.test.ts', 'demo/test/**/*.test.ts', 'operator/test/**/*.test.ts', 'charts/test/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Over-the-wire tests bind real ports; forks keep each file's servers apart.
    pool: 'forks',
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'node_modules/.cache/vitest/results.json' }]],
  },
});
