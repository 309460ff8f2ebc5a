import { type S3Server, startS3, waitFor } from '@pullback/harness';
import { type Backend, isAccessDenied, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireLock,
  backupTree,
  LockedError,
  openArchive,
  restoreSnapshot,
  verifyArchive,
} from '../src/index.js';
import { newWorkspace, objectNames, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { makeMixedTree, pseudoRandom, writeLargeFile } from './helpers/make-tree.js';
import { REFUSALS, ReadOnlyBackend } from './helpers/read-only-backend.js';

/*
 * The import role reads the archive with read rights only (docs/rights.md): it cannot
 * write the shared lock object a restore or verify takes. It reads without one, after
 * checking that no prune (exclusive lock) runs; anything that writes still needs the
 * rights and says so.
 */
describe.each(['fs', 's3'] as const)('read-only rights on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;
  let snapshotId: string;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['archive'] });
      backend = openBackend('s3://archive/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`read-only-${driver}`, backend);
    await makeMixedTree(ws.path('src'), 40);
    await writeLargeFile(ws.path('src', 'base', '1', '16384'), 4 * 1024 * 1024, (i, n) => pseudoRandom(i, n));
    snapshotId = (await backupTree(ws.archive, ws.path('src'), { tags: { component: 'docs' } })).id;
  }, 120_000);

  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  const readOnly = () => new ReadOnlyBackend(ws.backend, REFUSALS[driver]);

  it('restores and verifies without writing anything, once no prune holds the archive', async () => {
    const backend = readOnly();
    const archive = await openArchive({ archive: backend, keyFile: ws.keyFile });
    const before = await objectNames(ws.backend);

    await restoreSnapshot(archive, snapshotId, { target: ws.path('restored') });
    expect(await compareTrees(ws.path('src'), ws.path('restored'))).toEqual([]);
    const verified = await verifyArchive(archive, { readData: true });
    expect(verified.problems).toEqual([]);

    // It tried to write its lock, was refused, and read on: nothing was added or removed.
    expect(backend.refusedWrites).toBeGreaterThan(0);
    expect(await objectNames(ws.backend)).toEqual(before);
  });

  it('waits while a prune holds the exclusive lock, and fails naming it when the wait is over', async () => {
    const backend = readOnly();
    const archive = await openArchive({ archive: backend, keyFile: ws.keyFile });
    const prune = await acquireLock(ws.backend, { kind: 'exclusive', purpose: 'prune' });
    try {
      const refused = await restoreSnapshot(archive, snapshotId, {
        target: ws.path('refused'),
        lockWaitMs: 300,
      }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(LockedError);
      expect((refused as LockedError).message).toMatch(/prune/);

      // Released while the reader waits (refused its own lock, so past acquiring): it then restores.
      const writesBefore = backend.refusedWrites;
      let settled = false;
      const waiting = restoreSnapshot(archive, snapshotId, {
        target: ws.path('waited'),
        lockWaitMs: 60_000,
      }).finally(() => {
        settled = true;
      });
      await waitFor('the reader to be refused its lock', async () =>
        backend.refusedWrites > writesBefore ? true : undefined,
      );
      expect(settled).toBe(false);
      await prune.release();
      await waiting;
      expect(await compareTrees(ws.path('src'), ws.path('waited'))).toEqual([]);
    } finally {
      await prune.release().catch(() => {});
    }
  });

  it('a backup still needs the right to write: refused, not run unlocked', async () => {
    const archive = await openArchive({ archive: readOnly(), keyFile: ws.keyFile });
    const refused = await backupTree(archive, ws.path('src')).catch((error: unknown) => error);
    expect(isAccessDenied(refused)).toBe(true);
  });
});
