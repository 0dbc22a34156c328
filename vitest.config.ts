import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['gateway/test/**/*.test.ts', 'operator/test/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Over-the-wire tests bind real ports; forks keep each file's servers apart.
    pool: 'forks',
  },
});
