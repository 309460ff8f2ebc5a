import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupTree,
  CorruptDataError,
  forgetSnapshots,
  listSnapshots,
  pruneArchive,
  restoreSnapshot,
  verifyArchive,
} from '../src/index.js';
import { readAll } from '../src/repository/stream-bytes.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { compressible, makeMixedTree, pseudoRandom, writeAt, writeLargeFile } from './helpers/make-tree.js';

const CHILD = fileURLToPath(new URL('./helpers/backup-child.mjs', import.meta.url));

async function countObjects(dir: string): Promise<number> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

describe('kill -9 during a backup', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('crash');
    await makeMixedTree(ws.path('src'), 200);
    await writeLargeFile(ws.path('src', 'base', '1', '16384'), 64 * 1024 * 1024, (i, n) =>
      pseudoRandom(i + 11, n),
    );
    await writeLargeFile(ws.path('src', 'dump.sql'), 64 * 1024 * 1024, (i, n) => pseudoRandom(i + 500, n));
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('leaves every committed snapshot restorable, and a killed holder does not block the next backup', async () => {
    const first = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'crash' } });
    await rm(ws.path('copy'), { recursive: true, force: true });
    await restoreSnapshot(ws.archive, first.id, { target: ws.path('copy') });
    // Kill at several points: right after start, once packs exist, once more exist.
    for (const [round, packsBeforeKill] of [0, 1, 3].entries()) {
      await writeAt(
        ws.path('src', 'base', '1', '16384'),
        round * 8192 * 1000,
        pseudoRandom(round + 77, 8 * 1024 * 1024),
      );
      await writeAt(ws.path('src', 'dump.sql'), round * 1000, pseudoRandom(round + 99, 16 * 1024 * 1024));
      const before = await countObjects(join(ws.archiveDir, 'data'));
      const child: ChildProcess = spawn(
        process.execPath,
        [CHILD, ws.archiveDir, ws.keyFile, ws.path('src')],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await once(child.stdout!, 'data');
      while ((await countObjects(join(ws.archiveDir, 'data'))) < before + packsBeforeKill) {
        if (child.exitCode !== null) break;
        await sleep(5);
      }
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
      const snapshots = await listSnapshots(ws.archive);
      // Either it was killed before committing, or it finished first: both are fine,
      // as long as what is listed restores.
      for (const snapshot of snapshots) {
        const target = ws.path(`after-kill-${round}-${snapshot.id.slice(0, 8)}`);
        await restoreSnapshot(ws.archive, snapshot.id, { target });
        if (snapshot.id === first.id) expect(await compareTrees(ws.path('copy'), target)).toEqual([]);
        await rm(target, { recursive: true, force: true });
      }
    }
    // What the killed backups left is unreferenced: the archive verifies, data included.
    const verified = await verifyArchive(ws.archive, { readData: true });
    expect(verified.problems).toEqual([]);
    // At least the first two kills came before their commit point.
    expect((await listSnapshots(ws.archive)).length).toBeLessThanOrEqual(2);
    // The killed process's lock is stale (dead pid on this host): no wait, no error.
    const started = Date.now();
    const after = await backupTree(ws.archive, ws.path('src'), {
      tags: { component: 'crash' },
      lockWaitMs: 0,
    });
    expect(Date.now() - started).toBeLessThan(60_000);
    await restoreSnapshot(ws.archive, after.id, { target: ws.path('final') });
    expect(await compareTrees(ws.path('src'), ws.path('final'))).toEqual([]);
  });
});

describe('on the S3 driver', () => {
  let s3: S3Server;
  let ws: Workspace;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['archive'] });
    const backend = openBackend('s3://archive/pullback', {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    });
    ws = await newWorkspace('s3', backend);
    await makeMixedTree(ws.path('a'), 300);
    await writeLargeFile(ws.path('a', 'large.log'), 40 * 1024 * 1024, (i, n) => compressible(i, n));
    await writeLargeFile(ws.path('a', 'base', '5', '1259'), 24 * 1024 * 1024, (i, n) =>
      pseudoRandom(i + 3, n),
    );
    await makeMixedTree(ws.path('b'), 300);
    await writeLargeFile(ws.path('b', 'noise.bin'), 30 * 1024 * 1024, (i, n) => pseudoRandom(i + 1000, n));
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('round-trips a tree exactly', async () => {
    const snapshot = await backupTree(ws.archive, ws.path('a'));
    await restoreSnapshot(await ws.reopen(), snapshot.id, { target: ws.path('out-a') });
    expect(await compareTrees(ws.path('a'), ws.path('out-a'))).toEqual([]);
  });

  it('runs two backups into one archive at once; both commit and restore', async () => {
    const [a, b] = await Promise.all([
      backupTree(ws.archive, ws.path('a'), { tags: { component: 'a' }, parent: null }),
      backupTree(ws.archive, ws.path('b'), { tags: { component: 'b' } }),
    ]);
    const ids = (await listSnapshots(ws.archive)).map((s) => s.id);
    expect(ids).toContain(a.id);
    expect(ids).toContain(b.id);
    await restoreSnapshot(ws.archive, a.id, { target: ws.path('out-a2') });
    await restoreSnapshot(ws.archive, b.id, { target: ws.path('out-b') });
    expect(await compareTrees(ws.path('a'), ws.path('out-a2'))).toEqual([]);
    expect(await compareTrees(ws.path('b'), ws.path('out-b'))).toEqual([]);
  });

  const packs = async () => {
    const found: { name: string; size: number }[] = [];
    for await (const info of ws.backend.list('data/')) found.push(info);
    return found;
  };

  it('keeps what it committed restorable when a backup is killed -9 midway', async () => {
    await writeLargeFile(ws.path('a', 'base', '5', '1259'), 24 * 1024 * 1024, (i, n) =>
      pseudoRandom(i + 9, n),
    );
    const committed = (await listSnapshots(ws.archive)).map((s) => s.id);
    const before = (await packs()).length;
    const child = spawn(process.execPath, [CHILD, 's3://archive/pullback', ws.keyFile, ws.path('a')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...s3.env },
    });
    await once(child.stdout!, 'data');
    while ((await packs()).length < before + 1 && child.exitCode === null) await sleep(5);
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => {});
    const archive = await ws.reopen();
    expect((await verifyArchive(archive, { readData: true })).problems).toEqual([]);
    const listed = (await listSnapshots(archive)).map((s) => s.id);
    expect(listed.slice(0, committed.length)).toEqual(committed);
    for (const id of listed) {
      await restoreSnapshot(archive, id, { target: ws.path('after-kill') });
      await rm(ws.path('after-kill'), { recursive: true, force: true });
    }
    // The killed process's lock is stale (dead pid on this host): it blocks nothing.
    const after = await backupTree(archive, ws.path('a'), { tags: { component: 'a' }, lockWaitMs: 0 });
    await restoreSnapshot(archive, after.id, { target: ws.path('after-kill') });
    expect(await compareTrees(ws.path('a'), ws.path('after-kill'))).toEqual([]);
  });

  it('forgets and prunes, reclaiming the space of forgotten snapshots', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      await writeLargeFile(ws.path('b', 'noise.bin'), 16 * 1024 * 1024, (i, n) =>
        pseudoRandom(round * 100 + i + 7, n),
      );
      ids.push((await backupTree(ws.archive, ws.path('b'), { tags: { component: 'b' } })).id);
    }
    const bytes = async () => (await packs()).reduce((sum, p) => sum + p.size, 0);
    const before = await bytes();
    const forgot = await forgetSnapshots(ws.archive, { policy: { keepLast: 1 }, component: 'b' });
    expect(forgot.kept.map((s) => s.id)).toEqual([ids[2]]);
    expect(
      (await listSnapshots(ws.archive)).filter((s) => s.tags.component === 'b').map((s) => s.id),
    ).toEqual([ids[2]]);
    await pruneArchive(ws.archive);
    expect(await bytes()).toBeLessThan(before - 24 * 1024 * 1024);
    await restoreSnapshot(ws.archive, ids[2]!, { target: ws.path('out-pruned') });
    expect(await compareTrees(ws.path('b'), ws.path('out-pruned'))).toEqual([]);
    expect(await verifyArchive(ws.archive, { readData: true })).toMatchObject({ ok: true });
  });

  // Last: it damages the archive.
  it('finds a flipped byte in a pack with verify --read-data, and restore refuses it', async () => {
    const largest = (await packs()).sort((a, b) => b.size - a.size)[0]!;
    const bytes = await readAll(await ws.backend.load(largest.name));
    bytes[5000] = bytes[5000]! ^ 1;
    await ws.backend.save(largest.name, bytes);
    const verified = await verifyArchive(ws.archive, { readData: true });
    expect(verified.ok).toBe(false);
    expect(verified.problems.some((p) => p.snapshot !== undefined && p.file !== undefined)).toBe(true);
    let refused = 0;
    for (const snapshot of await listSnapshots(ws.archive)) {
      const target = ws.path(`damaged-${snapshot.id.slice(0, 8)}`);
      try {
        await restoreSnapshot(ws.archive, snapshot.id, { target });
      } catch (error) {
        expect(error).toBeInstanceOf(CorruptDataError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});
