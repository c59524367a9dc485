import { defineConfig } from 'vitest/config';

// Tests run the real `claude` binary (~300 MB, ~0.7 s per call) and real git:
// keep parallelism modest for 2-core machines and give end-to-end tests room.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // the JSON report lets .ci/run print a plain 'N passed, N failed' closing line
    reporters: ['default', ['json', { outputFile: 'test-output/vitest.json' }]],
  },
});
