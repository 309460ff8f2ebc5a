import { performance } from 'node:perf_hooks';
import { scratchDir, waitFor } from '@pullback/harness';
import { describe, expect, it } from 'vitest';
import { ServerSupervisor } from '../src/index.js';

describe('the server supervisor', () => {
  it('backs off after failed starts, doubling the wait up to its ceiling, and reports each failure', async () => {
    const scratch = await scratchDir('server-backoff');
    const attempts: number[] = [];
    const reasons: (string | undefined)[] = [];
    // A start that always fails (the server's own failure is in server-supervisor.test.ts).
    const supervisor = new ServerSupervisor({
      instance: 'shop-a',
      dataDir: scratch.path,
      wanted: () => 'active',
      pollMs: 10,
      backoffMs: 100,
      maxBackoffMs: 400,
      start: async () => {
        attempts.push(performance.now());
        throw new Error('could not bind');
      },
      onUnhealthy: (reason) => {
        reasons.push(reason);
      },
    });
    supervisor.start();
    try {
      await waitFor('six failed starts', async () => (attempts.length >= 6 ? true : undefined));
    } finally {
      await supervisor.stop();
      await scratch.remove();
    }
    const gaps = attempts.slice(1).map((at, index) => at - (attempts[index] ?? 0));
    // 100, 200, 400, 400, 400 ms at least (timers never fire early).
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
    expect(gaps[3]).toBeGreaterThanOrEqual(395);
    expect(reasons[0]).toBe('cannot start shop-a: could not bind');
    expect(reasons.length).toBeGreaterThanOrEqual(6);
    expect(supervisor.reason).toBe('cannot start shop-a: could not bind');
    expect(supervisor.started).toBe(0);
  });
});
