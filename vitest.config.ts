import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.ts'],
    // Native addons and worker threads do not mix in test runners: keep the default forks pool.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
