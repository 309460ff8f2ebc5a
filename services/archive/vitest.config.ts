import { defineConfig } from 'vitest/config';

// Worker threads run the compiled package (dist/), built once by the global setup.
// Round trips move hundreds of megabytes, so timeouts are generous.
export default defineConfig({
  test: {
    globalSetup: ['./test/helpers/build-once.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
