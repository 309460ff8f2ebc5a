import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The command-line tests run the built bundle (dist/bundle/main.js), as users do.
    globalSetup: ['./test/build.global-setup.ts'],
    // Some tests back up and restore through real fs and S3 archives.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
