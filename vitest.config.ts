import { defineConfig } from 'vitest/config';

// Tests run the real `claude` binary (~300 MB, ~0.7 s per call) and real git: keep parallelism modest for 2-core
// machines. Tests wait for conditions; these bounds only turn a hang into a failure, so they are generous enough
// for a busy two-core machine (a test that is merely slow must not fail).
export default defineConfig({
  test: {
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // the JSON report lets .ci/run print a plain 'N passed, N failed' closing line
    reporters: ['default', ['json', { outputFile: 'test-output/vitest.json' }]],
    projects: [
      // The flows' tests run in process (a fake session service, GitLab's REST API in process, an in-memory store)
      // and keep no global state: their files share a worker's loaded modules instead of loading them again per file.
      { extends: true, test: { name: 'flows', include: ['test/flows/**/*.test.ts'], isolate: false } },
      { extends: true, test: { name: 'the rest', include: ['test/**/*.test.ts'], exclude: ['test/flows/**'] } },
    ],
  },
});
