import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.ts'],
    // Native addons and worker threads do not mix in test runners: keep the default forks pool.
    pool: 'forks',
    testTimeout: 60_000,
    // No test may reach the internet: a repo id that a test forgets to point at its local hub
    // fails at once (connection refused) instead of asking huggingface.co.
    env: { HF_ENDPOINT: 'http://127.0.0.1:9' },
  },
});
