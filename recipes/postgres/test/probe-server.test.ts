import { type PostgresServer, startPostgres } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeServer } from '../src/index.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

const tcp = (user?: string) => ({ host: '127.0.0.1', port: server.port, ...(user ? { user } : {}) });

describe('probeServer: a new connection and select 1 within a time limit', () => {
  it('a running server answers, even when it refuses our login', async () => {
    expect(await probeServer(tcp(), 5000)).toEqual({ ok: true });
    expect(await probeServer(tcp('no_such_role'), 5000)).toEqual({ ok: true });
  });

  it('a postmaster that does not answer (SIGSTOP) fails within the limit, and answers again once resumed', async () => {
    process.kill(server.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const result = await probeServer(tcp(), 1000);
      expect(result).toEqual({ ok: false, reason: 'no answer within 1000 ms' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    expect(await probeServer(tcp(), 5000)).toEqual({ ok: true });
  });

  it('a server that is down fails with the connection error in one line', async () => {
    await server.crash();
    const result = await probeServer(tcp(), 5000);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^probing failed: connection refused/);
    await server.restart();
  });
});
