import { defineConfig } from 'vitest/config';

// The contract suite moves hundreds of megabytes through a real S3 server.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } });
