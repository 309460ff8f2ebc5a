import { defineConfig } from 'vitest/config';

// Real redis-server, PostgreSQL and archive work: generous timeouts on a shared 2-core machine.
export default defineConfig({
  test: {
    // The two-process test runs a second writer from dist/ (test/helpers/cas-child.mjs).
    globalSetup: ['./test/build.global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
