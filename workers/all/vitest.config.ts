import { defineConfig } from 'vitest/config';

// End-to-end: real PostgreSQL instances, redis-server and archive on a shared 2-core machine
// (a run beside `stress-ng --cpu 2` took up to 190 s for one test).
export default defineConfig({
  test: {
    // The WAL tests run the pull side from dist/ as a process they can kill.
    globalSetup: ['./test/build.global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
