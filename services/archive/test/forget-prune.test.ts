import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupTree,
  forgetSnapshots,
  listSnapshots,
  pruneArchive,
  restoreSnapshot,
  verifyArchive,
} from '../src/index.js';
import { acquireLock } from '../src/lock/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { makeMixedTree, pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

async function dataBytes(ws: Workspace): Promise<number> {
  let total = 0;
  for await (const info of ws.backend.list('data/')) total += info.size;
  return total;
}

describe('forget and prune', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('prune');
    await makeMixedTree(ws.path('src'), 100);
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('keeps exactly the snapshots the policy keeps and reclaims the space of the others', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      // Each round replaces 24 MiB of incompressible data.
      await writeLargeFile(ws.path('src', 'blob.bin'), 24 * 1024 * 1024, (i, n) =>
        pseudoRandom(round * 100 + i, n),
      );
      ids.push((await backupTree(ws.archive, ws.path('src'))).id);
    }
    const before = await dataBytes(ws);
    expect(before).toBeGreaterThan(72 * 1024 * 1024);

    const dry = await forgetSnapshots(ws.archive, { policy: { keepLast: 1 }, dryRun: true });
    expect(dry.forgotten.map((s) => s.id).sort()).toEqual(ids.slice(0, 2).sort());
    expect((await listSnapshots(ws.archive)).length).toBe(3);

    const forgot = await forgetSnapshots(ws.archive, { policy: { keepLast: 1 } });
    expect(forgot.kept.map((s) => s.id)).toEqual([ids[2]]);
    expect((await listSnapshots(ws.archive)).map((s) => s.id)).toEqual([ids[2]]);

    const pruned = await pruneArchive(ws.archive);
    expect(pruned.packsRemoved + pruned.packsRewritten).toBeGreaterThan(0);
    const after = await dataBytes(ws);
    expect(after).toBeLessThan(before - 40 * 1024 * 1024);
    expect(after).toBeGreaterThan(24 * 1024 * 1024);

    await restoreSnapshot(ws.archive, ids[2]!, { target: ws.path('out') });
    expect(await compareTrees(ws.path('src'), ws.path('out'))).toEqual([]);
    expect(await verifyArchive(ws.archive, { readData: true })).toMatchObject({ ok: true });
    await rm(ws.path('out'), { recursive: true });

    // A second prune finds nothing to do, and the archive still restores.
    const again = await pruneArchive(ws.archive);
    expect(again).toMatchObject({ packsRemoved: 0, packsRewritten: 0 });
  });

  it('waits for a backup or restore holding a shared lock', async () => {
    const held = await acquireLock(ws.backend, { kind: 'shared', purpose: 'backup' });
    try {
      await expect(pruneArchive(ws.archive, { lockWaitMs: 0 })).rejects.toThrow(/locked/i);
    } finally {
      await held.release();
    }
    await expect(pruneArchive(ws.archive, { lockWaitMs: 0 })).resolves.toBeDefined();
  });
});
