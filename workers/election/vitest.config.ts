import { defineConfig } from 'vitest/config';

// Real redis-server, PostgreSQL and archive work: generous timeouts on a shared 2-core machine.
export default defineConfig({ test: { testTimeout: 180_000, hookTimeout: 120_000 } });
