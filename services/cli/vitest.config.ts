import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The command-line tests run the built dist/main.js, as users do.
    globalSetup: ['./test/build.global-setup.ts'],
  },
});
