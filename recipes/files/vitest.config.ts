import { defineConfig } from 'vitest/config';

// Real PostgreSQL servers are started, backed up and restored in these tests.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 120_000 } });
