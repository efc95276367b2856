import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Node loads graphql 16 through its CommonJS entry (the package has no
    // "exports"); graphql-shield does too. Make the test runner do the same,
    // so that one copy of graphql is loaded, as in production.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files share one PostgreSQL server; each creates its own
    // database, so files may run side by side on the machine's two cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
