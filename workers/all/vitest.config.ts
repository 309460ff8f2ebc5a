import { defineConfig } from 'vitest/config';

// End-to-end: real PostgreSQL instances, redis-server and archive on a shared 2-core machine.
export default defineConfig({ test: { testTimeout: 300_000, hookTimeout: 180_000, fileParallelism: false } });
