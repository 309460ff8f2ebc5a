import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type S3Server, scratchDir, startS3, waitFor } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLock,
  type HeldLock,
  LockedError,
  LockLostError,
  listLocks,
  removeAllLocks,
  removeStaleLocks,
} from '../src/lock/index.js';
import { encodeLock, type LockRecord } from '../src/lock/lock-record.js';

/** Where each test's archive lives: a fresh one per call. */
interface Driver {
  readonly name: string;
  setup(): Promise<void>;
  open(): Promise<Backend>;
  teardown(): Promise<void>;
}

function fsDriver(): Driver {
  const dirs: { remove(): Promise<void> }[] = [];
  return {
    name: 'fs',
    setup: async () => {},
    open: async () => {
      const dir = await scratchDir('locks');
      dirs.push(dir);
      return openBackend(dir.path);
    },
    teardown: async () => {
      await Promise.all(dirs.map((dir) => dir.remove()));
    },
  };
}

function s3Driver(): Driver {
  let server: S3Server | undefined;
  let count = 0;
  return {
    name: 's3',
    setup: async () => {
      server = await startS3({ buckets: ['locks'] });
    },
    open: async () => {
      const s3 = server!;
      return openBackend(`s3://locks/test-${++count}`, {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    },
    teardown: async () => {
      await server?.stop();
    },
  };
}

/** A lock object as another process would have left it. */
function foreignLock(overrides: Partial<LockRecord>): Buffer {
  const now = new Date();
  return encodeLock({
    kind: 'exclusive',
    hostname: 'elsewhere.example',
    pid: 4242,
    purpose: 'prune',
    createdAt: now,
    renewedAt: now,
    leaseMs: 60_000,
    ...overrides,
  });
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe.each([fsDriver(), s3Driver()])('locks on $name', { timeout: 60_000 }, (driver) => {
  let backend: Backend;
  const held: HeldLock[] = [];

  /** Acquires and remembers to release after the test. */
  async function take(options: Parameters<typeof acquireLock>[1]): Promise<HeldLock> {
    const lock = await acquireLock(backend, options);
    held.push(lock);
    return lock;
  }

  beforeAll(() => driver.setup(), 60_000);
  afterAll(() => driver.teardown());

  beforeEach(async () => {
    backend = await driver.open();
  });

  afterEach(async () => {
    await Promise.allSettled(held.splice(0).map((lock) => lock.release()));
  });

  it('lets two shared locks coexist, and release removes them', async () => {
    const backup = await take({ kind: 'shared', purpose: 'backup' });
    const restore = await take({ kind: 'shared', purpose: 'restore' });
    const locks = await listLocks(backend);
    expect(locks.map((lock) => lock.state)).toEqual(['live', 'live']);
    expect(new Set(locks.map((lock) => lock.id))).toEqual(new Set([backup.id, restore.id]));
    await backup.release();
    await restore.release();
    await backup.release(); // a second release is harmless
    expect(await listLocks(backend)).toEqual([]);
  });

  it('refuses a shared lock while an exclusive one is held, naming the holder', async () => {
    await take({ kind: 'exclusive', purpose: 'prune' });
    const error = await acquireLock(backend, { kind: 'shared', purpose: 'backup' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^archive is locked exclusively by prune on host ${hostname().replaceAll('.', '\\.')} \\(pid ${process.pid}\\) ` +
          'since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(\\d+m?s ago\\); HINT: wait for it to finish; ' +
          'if that process is gone, its lock expires at ',
      ),
    );
    // The refused acquirer took its own object away again.
    expect(await listLocks(backend)).toHaveLength(1);
  });

  it('refuses an exclusive lock while shared ones are held', async () => {
    await take({ kind: 'shared', purpose: 'backup' });
    await take({ kind: 'shared', purpose: 'backup' });
    await expect(acquireLock(backend, { kind: 'exclusive', purpose: 'prune' })).rejects.toThrow(
      /^archive is locked by backup on host .* \(and 1 more lock\); HINT: /,
    );
    await expect(acquireLock(backend, { kind: 'shared', purpose: 'verify' })).resolves.toBeDefined();
  });

  it('refuses an exclusive lock while another exclusive one is held', async () => {
    await take({ kind: 'exclusive', purpose: 'prune' });
    await expect(acquireLock(backend, { kind: 'exclusive', purpose: 'prune' })).rejects.toThrow(LockedError);
    expect(await listLocks(backend)).toHaveLength(1);
  });

  it('waits for a release within waitMs', async () => {
    const prune = await take({ kind: 'exclusive', purpose: 'prune' });
    const started = Date.now();
    setTimeout(() => void prune.release(), 300);
    const backup = await take({ kind: 'shared', purpose: 'backup', waitMs: 10_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await listLocks(backend)).map((lock) => lock.id)).toEqual([backup.id]);
  });

  it('gives up after waitMs, saying how long it waited', async () => {
    await take({ kind: 'exclusive', purpose: 'prune' });
    const started = Date.now();
    await expect(acquireLock(backend, { kind: 'shared', purpose: 'backup', waitMs: 500 })).rejects.toThrow(
      /^archive is locked exclusively by prune .*, still after waiting \d+ms; HINT/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await listLocks(backend)).toHaveLength(1);
  });

  it('stops waiting when aborted, leaving nothing behind', async () => {
    await take({ kind: 'exclusive', purpose: 'prune' });
    const signal = AbortSignal.timeout(300);
    await expect(
      acquireLock(backend, { kind: 'shared', purpose: 'backup', waitMs: 10_000, signal }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(await listLocks(backend)).toHaveLength(1);
  });

  it('ignores and removes the lock of a dead process on this host', async () => {
    const pid = await deadPid();
    await backend.save('locks/dead', foreignLock({ hostname: hostname(), pid }));
    expect(await listLocks(backend)).toMatchObject([{ id: 'dead', state: 'stale', reason: 'dead-process' }]);
    const prune = await take({ kind: 'exclusive', purpose: 'prune' });
    expect((await listLocks(backend)).map((lock) => lock.id)).toEqual([prune.id]);
  });

  it('ignores and removes a lock from another host whose lease expired', async () => {
    const longAgo = new Date(Date.now() - 120_000);
    await backend.save('locks/expired', foreignLock({ createdAt: longAgo, renewedAt: longAgo }));
    expect(await listLocks(backend)).toMatchObject([{ id: 'expired', state: 'stale', reason: 'expired' }]);
    const backup = await take({ kind: 'shared', purpose: 'backup' });
    expect((await listLocks(backend)).map((lock) => lock.id)).toEqual([backup.id]);
  });

  it('honours a live lock from another host, whatever its pid', async () => {
    await backend.save('locks/remote', foreignLock({ pid: await deadPid() }));
    await expect(acquireLock(backend, { kind: 'shared', purpose: 'backup' })).rejects.toThrow(
      /^archive is locked exclusively by prune on host elsewhere\.example \(pid \d+\)/,
    );
    expect(await removeStaleLocks(backend)).toEqual([]);
    expect(await listLocks(backend)).toHaveLength(1);
  });

  it('removes only stale locks on request', async () => {
    const pid = await deadPid();
    const longAgo = new Date(Date.now() - 120_000);
    await backend.save('locks/dead', foreignLock({ hostname: hostname(), pid }));
    await backend.save('locks/expired', foreignLock({ renewedAt: longAgo }));
    await backend.save('locks/live', foreignLock({ kind: 'shared' }));
    const removed = await removeStaleLocks(backend);
    expect(removed.map((lock) => lock.id).sort()).toEqual(['dead', 'expired']);
    expect((await listLocks(backend)).map((lock) => lock.id)).toEqual(['live']);
  });

  it('refuses to guess about an object that is not a lock', async () => {
    await backend.save('locks/junk', Buffer.from('not a lock'));
    await expect(acquireLock(backend, { kind: 'shared', purpose: 'backup' })).rejects.toThrow(
      'archive has a lock object locks/junk that is not a lock (not JSON); HINT: ',
    );
    expect(await removeStaleLocks(backend)).toEqual([]);
    expect(await removeAllLocks(backend)).toEqual(['junk']);
    await expect(take({ kind: 'shared', purpose: 'backup' })).resolves.toBeDefined();
  });

  it('renews its lease so the lock outlives it', async () => {
    // Renewed every third of the lease (held-lock.ts): a loaded machine would have to
    // stall for two thirds of it, 4 s, to let it lapse.
    const leaseMs = 6_000;
    const lock = await take({ kind: 'exclusive', purpose: 'prune', leaseMs });
    const renewals = new Set<number>();
    const listed = await waitFor('two renewals and a whole lease', async () => {
      const [found] = await listLocks(backend, { clockSkewMs: 0 });
      if (found?.state !== 'live') throw new Error(`lock not live: ${JSON.stringify(found)}`);
      const { createdAt, renewedAt } = found.record;
      if (renewedAt > createdAt) renewals.add(renewedAt.getTime());
      return renewals.size >= 2 && Date.now() > createdAt.getTime() + leaseMs ? found : undefined;
    });
    expect(listed).toMatchObject({ id: lock.id, state: 'live' });
    await expect(acquireLock(backend, { kind: 'shared', purpose: 'backup', clockSkewMs: 0 })).rejects.toThrow(
      LockedError,
    );
    expect(lock.signal.aborted).toBe(false);

    await lock.release();
    // Past the moment the next renewal was due: none in flight wrote it back.
    await sleep(leaseMs / 3 + 500);
    expect(await listLocks(backend)).toEqual([]);
  });

  it('tells the holder when another process removed its lock as stale', async () => {
    // Long enough that the first renewal (a third of it) finds the removal well before
    // the lease could lapse on a loaded machine.
    const lock = await take({ kind: 'shared', purpose: 'backup', leaseMs: 6_000 });
    await removeAllLocks(backend);
    await once(lock.signal, 'abort');
    expect(lock.signal.reason).toBeInstanceOf(LockLostError);
    expect(lock.signal.reason.message).toBe(
      `lost the shared lock locks/${lock.id}: another process removed it as stale`,
    );
    await sleep(300);
    // It did not write itself back.
    expect(await listLocks(backend)).toEqual([]);
  });

  it('lets exactly one of many concurrent exclusive acquirers hold at a time', async () => {
    let holding = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const lock = await acquireLock(backend, { kind: 'exclusive', purpose: `prune ${i}`, waitMs: 30_000 });
        holding++;
        most = Math.max(most, holding);
        order.push(i);
        await sleep(50);
        holding--;
        await lock.release();
      }),
    );
    expect(most).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await listLocks(backend)).toEqual([]);
  });

  it('never lets an exclusive holder overlap any other holder', async () => {
    let shared = 0;
    let exclusive = 0;
    const overlaps: string[] = [];
    const kinds = ['exclusive', 'shared', 'shared', 'exclusive', 'shared', 'exclusive', 'shared'] as const;
    await Promise.all(
      kinds.map(async (kind, i) => {
        const lock = await acquireLock(backend, { kind, purpose: `job ${i}`, waitMs: 30_000 });
        if (kind === 'exclusive') exclusive++;
        else shared++;
        if (exclusive > 1 || (exclusive === 1 && shared > 0))
          overlaps.push(`${exclusive} exclusive, ${shared} shared`);
        await sleep(30);
        if (kind === 'exclusive') exclusive--;
        else shared--;
        await lock.release();
      }),
    );
    expect(overlaps).toEqual([]);
  });
});

/** A backend whose writes and stats can be made to fail, to stand for an unreachable store. */
class FlakyBackend implements Backend {
  failing = false;
  /** How many writes and stats were refused while failing. */
  refused = 0;
  readonly location: string;
  readonly properties: Backend['properties'];

  constructor(private readonly inner: Backend) {
    this.location = inner.location;
    this.properties = inner.properties;
  }

  save: Backend['save'] = (name, body, options) =>
    this.unlessFailing(() => this.inner.save(name, body, options));
  load: Backend['load'] = (name, range, options) => this.inner.load(name, range, options);
  stat: Backend['stat'] = (name, options) => this.unlessFailing(() => this.inner.stat(name, options));
  list: Backend['list'] = (prefix, options) => this.inner.list(prefix, options);
  remove: Backend['remove'] = (name, options) => this.inner.remove(name, options);

  private async unlessFailing<T>(operation: () => Promise<T>): Promise<T> {
    if (this.failing) {
      this.refused++;
      throw new Error('store unreachable');
    }
    return operation();
  }
}

describe('a lock that cannot be renewed', { timeout: 60_000 }, () => {
  it('aborts its signal once a whole lease passes without renewal, then still releases', async () => {
    const dir = await scratchDir('locks');
    try {
      const backend = new FlakyBackend(openBackend(dir.path, { retry: false }));
      const leaseMs = 3_000;
      const lock = await acquireLock(backend, { kind: 'exclusive', purpose: 'prune', leaseMs });
      const started = Date.now();
      backend.failing = true;
      await once(lock.signal, 'abort');
      // The lease runs from the last write that succeeded: the one that acquired it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(leaseMs - 1_000);
      // Generous: only that it is not left running unprotected for long.
      expect(Date.now() - started).toBeLessThan(5 * leaseMs);
      expect(backend.refused).toBeGreaterThan(0);
      expect(lock.signal.reason).toBeInstanceOf(LockLostError);
      expect(lock.signal.reason.message).toBe(
        `lost the exclusive lock locks/${lock.id}: it was not renewed within its lease: store unreachable`,
      );
      backend.failing = false;
      await lock.release();
      expect(await listLocks(backend)).toEqual([]);
    } finally {
      await dir.remove();
    }
  });

  it('survives failures shorter than the lease', async () => {
    const dir = await scratchDir('locks');
    try {
      const backend = new FlakyBackend(openBackend(dir.path, { retry: false }));
      const lock = await acquireLock(backend, { kind: 'shared', purpose: 'backup', leaseMs: 6_000 });
      const renewedAt = async () => {
        const [found] = await listLocks(backend, { clockSkewMs: 0 });
        return found?.state === 'live' ? found.record.renewedAt.getTime() : undefined;
      };
      const first = await renewedAt();
      const renewed = await waitFor('a renewal', async () => {
        const at = await renewedAt();
        return at !== undefined && at > first! ? at : undefined;
      });
      // Fail from just after a renewal until a renewal attempt has been refused.
      backend.failing = true;
      await waitFor('a refused renewal', async () => (backend.refused > 0 ? true : undefined));
      backend.failing = false;
      await waitFor('a renewal after the failure', async () => {
        const at = await renewedAt();
        return at !== undefined && at > renewed ? at : undefined;
      });
      expect(lock.signal.aborted).toBe(false);
      await lock.release();
    } finally {
      await dir.remove();
    }
  });
});
