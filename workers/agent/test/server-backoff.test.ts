import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

  it('tells a failure over once the server runs, though another process started it (a switchover at the same moment)', async () => {
    const scratch = await scratchDir('server-started-by-another');
    const reasons: (string | undefined)[] = [];
    let attempts = 0;
    const supervisor = new ServerSupervisor({
      instance: 'shop-b',
      dataDir: scratch.path,
      wanted: () => 'active',
      pollMs: 10,
      backoffMs: 50,
      // pg_ctl start fails: another start got there first, and its postmaster (here, this process) runs.
      start: async (dataDir) => {
        attempts += 1;
        await writeFile(join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n`);
        throw new Error('pg_ctl: another server might be running');
      },
      onUnhealthy: (reason) => {
        reasons.push(reason);
      },
    });
    supervisor.start();
    try {
      await waitFor('the failure told over', async () => (reasons.length >= 2 ? true : undefined));
    } finally {
      await supervisor.stop();
      await scratch.remove();
    }
    expect(reasons).toEqual(['cannot start shop-b: pg_ctl: another server might be running', undefined]);
    expect(supervisor.reason).toBeUndefined();
    expect(attempts).toBe(1);
    expect(supervisor.started).toBe(0);
  });
});
