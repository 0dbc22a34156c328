import { defineConfig } from 'vitest/config';

/**
 * Tests by kind, each a vitest project (`vitest run --project unit`):
 * - unit: pure logic, in-process only: no sockets beyond loopback fakes, no root, no Podman;
 * - wire: real gateways started in-process or as child processes on embedded defaults, real
 *   clients over the wire (ws, gRPC, HTTP, headless Chromium);
 * - backends: the engines against real Redis, etcd and Kafka (containers, `npm run e2e:setup`);
 * - e2e: fleets of gateway processes on real services, the operator on a real control plane,
 *   the chart rendered by helm.
 * A test file belongs to exactly one (test/unit/project-kinds.test.ts checks it).
 */
export const TEST_KINDS = {
  unit: ['gateway/test/unit/**/*.test.ts', 'client/test/unit/**/*.test.ts', 'docs/api/test/unit/**/*.test.ts', 'operator/test/**/*.test.ts'],
  wire: ['gateway/test/wire/**/*.test.ts', 'client/test/wire/**/*.test.ts', 'docs/api/test/wire/**/*.test.ts', 'demo/test/wire/**/*.test.ts'],
  backends: ['gateway/test/backends/**/*.test.ts'],
  e2e: ['e2e/**/*.test.ts', 'charts/test/**/*.test.ts', 'client/test/e2e/**/*.test.ts', 'demo/test/e2e/**/*.test.ts'],
};

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Over-the-wire tests bind real ports; forks keep each file's servers apart.
    pool: 'forks',
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'node_modules/.cache/vitest/results.json' }]],
    projects: Object.entries(TEST_KINDS).map(([name, include]) => ({ extends: true, test: { name, include } })),
  },
});
