import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupTree,
  DamagedRestoreError,
  forgetSnapshots,
  listSnapshots,
  pruneArchive,
  repairArchive,
  repairIndex,
  restoreSnapshot,
  verifyArchive,
} from '../src/index.js';
import { readAll } from '../src/repository/stream-bytes.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

async function names(backend: Backend, prefix: string): Promise<{ name: string; size: number }[]> {
  const found: { name: string; size: number }[] = [];
  for await (const info of backend.list(prefix)) found.push(info);
  return found.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Flips one bit of a stored object, through the backend (so on fs and S3 alike). */
async function flipBit(backend: Backend, name: string, offset: number): Promise<void> {
  const bytes = await readAll(await backend.load(name));
  const at = offset < 0 ? bytes.length + offset : offset;
  bytes[at] = bytes[at]! ^ 1;
  await backend.save(name, bytes);
}

/** A tree of small files (bundled) and one chunked file, all incompressible. */
async function makeTree(root: string, seed: number): Promise<void> {
  await mkdir(join(root, 'small'), { recursive: true });
  for (let i = 0; i < 60; i++)
    await writeFile(join(root, 'small', `f${i}`), pseudoRandom(seed + i, 4000 + i));
  await writeLargeFile(join(root, 'large.bin'), 6 * 1024 * 1024, (i, n) => pseudoRandom(seed + 1000 + i, n));
}

interface Driver {
  readonly name: string;
  /** A fresh backend per archive, or undefined for an fs archive in the workspace. */
  start(): Promise<{ open(label: string): Backend | undefined; stop(): Promise<void> }>;
}

const drivers: Driver[] = [
  { name: 'fs', start: async () => ({ open: () => undefined, stop: async () => {} }) },
  {
    name: 's3',
    start: async () => {
      const s3: S3Server = await startS3({ buckets: ['archive'] });
      return {
        open: (label) =>
          openBackend(`s3://archive/${label}-${randomBytes(4).toString('hex')}`, {
            s3: {
              endpoint: s3.endpoint,
              region: s3.region,
              credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
            },
          }),
        stop: () => s3.stop(),
      };
    },
  },
];

describe.each(drivers)('archive integrity on the $name driver', (driver) => {
  let started: Awaited<ReturnType<Driver['start']>> | undefined;
  const workspaces: Workspace[] = [];
  beforeAll(async () => {
    started = await driver.start();
  });
  afterAll(async () => {
    for (const ws of workspaces) await ws.remove();
    await started?.stop();
  });
  const workspace = async (label: string) => {
    const ws = await newWorkspace(label, started!.open(label));
    workspaces.push(ws);
    const warnings: string[] = [];
    ws.archive.onWarning = (message) => warnings.push(message);
    return { ws, warnings };
  };

  it('restore names a lost pack as missing, with the files that need it, and verify names the lost blobs', async () => {
    const { ws } = await workspace('restore-lost');
    await makeTree(ws.path('src'), 4);
    const snapshot = await backupTree(ws.archive, ws.path('src'));
    const lost = (await names(ws.backend, 'data/')).sort((a, b) => b.size - a.size)[0]!;
    await ws.backend.remove(lost.name);
    const lostId = lost.name.slice(lost.name.lastIndexOf('/') + 1);
    const refused = await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('refused') }).catch(
      (error: Error) => error,
    );
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain(`pack ${lostId.slice(0, 16)} is missing`);
    expect((refused as Error).message).toMatch(/needed by file (small\/f\d+|large\.bin)/);
    expect((refused as Error).message).not.toContain('shorter');
    const damaged = await verifyArchive(ws.archive);
    expect(damaged.ok).toBe(false);
    expect(
      damaged.problems.some((p) => /blob [0-9a-f]{16}: pack [0-9a-f]{16} is missing/.test(p.message)),
    ).toBe(true);
  });

  it('a backup after a lost pack stores the lost data again, and repair cleans the index', async () => {
    const { ws } = await workspace('lost-pack');
    await makeTree(ws.path('src'), 1);
    const first = await backupTree(ws.archive, ws.path('src'));
    const lost = (await names(ws.backend, 'data/')).sort((a, b) => b.size - a.size)[0]!;
    await ws.backend.remove(lost.name);
    const lostId = lost.name.slice(lost.name.lastIndexOf('/') + 1);

    // The next backup (unchanged files, default options) must not point at the lost pack.
    const second = await backupTree(ws.archive, ws.path('src'));
    expect(second.stats.newBytesStored).toBeGreaterThan(lost.size / 2);
    await restoreSnapshot(ws.archive, second.id, { target: ws.path('second') });
    expect(await compareTrees(ws.path('src'), ws.path('second'))).toEqual([]);
    // Blobs are named by content: the first snapshot is whole again too.
    await restoreSnapshot(ws.archive, first.id, { target: ws.path('first') });
    expect(await compareTrees(ws.path('src'), ws.path('first'))).toEqual([]);

    // The repair drops the stale entries; the archive verifies clean, data included.
    const repaired = await repairArchive(ws.archive);
    expect(repaired.packsMissing).toEqual([lostId]);
    expect((await verifyArchive(ws.archive, { readData: true })).problems).toEqual([]);
    await pruneArchive(ws.archive);
    expect((await verifyArchive(ws.archive, { readData: true })).problems).toEqual([]);
  });

  it('a damaged snapshot manifest costs only that snapshot; prune refuses until it is repaired', async () => {
    const { ws, warnings } = await workspace('bad-snapshot');
    await makeTree(ws.path('src'), 2);
    const first = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'c' } });
    await writeFile(ws.path('src', 'small', 'new'), 'a new file');
    const second = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'c' } });
    await flipBit(ws.backend, `snapshots/${first.id}`, 40);
    // The next command: this process already opened `first` (to back up `second`), and
    // keeps what it opened (snapshots are named by the hash of their bytes).
    await ws.reopen();
    ws.archive.onWarning = (message) => warnings.push(message);

    expect((await listSnapshots(ws.archive)).map((s) => s.id)).toEqual([second.id]);
    expect(warnings.some((w) => w.includes(`snapshot ${first.id.slice(0, 12)} fails authentication`))).toBe(
      true,
    );
    await restoreSnapshot(ws.archive, 'latest', { target: ws.path('latest') });
    expect(await compareTrees(ws.path('src'), ws.path('latest'))).toEqual([]);
    const verified = await verifyArchive(ws.archive);
    expect(verified.problems).toEqual([
      { snapshot: first.id, message: `snapshot ${first.id.slice(0, 12)} fails authentication` },
    ]);
    const third = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'c' } });
    expect((await forgetSnapshots(ws.archive, { policy: { keepLast: 1 } })).kept.map((s) => s.id)).toEqual([
      third.id,
    ]);
    // What the unreadable snapshot needs is unknown: prune removes nothing.
    const packsBefore = await names(ws.backend, 'data/');
    await expect(pruneArchive(ws.archive)).rejects.toThrow(/snapshot [0-9a-f]{12} fails authentication/);
    expect(await names(ws.backend, 'data/')).toEqual(packsBefore);

    const damagedBytes = await readAll(await ws.backend.load(`snapshots/${first.id}`));
    const repaired = await repairArchive(ws.archive);
    // Kept aside, never deleted: the bytes may still be wanted (a later tool, a key mix-up).
    expect(repaired.snapshotsQuarantined).toEqual([
      { name: `snapshots/${first.id}`, movedTo: `damaged/snapshots/${first.id}` },
    ]);
    expect((await names(ws.backend, 'snapshots/')).map((o) => o.name)).not.toContain(`snapshots/${first.id}`);
    await pruneArchive(ws.archive);
    expect((await verifyArchive(ws.archive, { readData: true })).problems).toEqual([]);
    // Prune never removes what repair kept aside.
    expect(await readAll(await ws.backend.load(`damaged/snapshots/${first.id}`))).toEqual(damagedBytes);
    await restoreSnapshot(ws.archive, third.id, { target: ws.path('third') });
    expect(await compareTrees(ws.path('src'), ws.path('third'))).toEqual([]);
  });

  it('a damaged index object costs only what it alone lists; the index is rebuilt from the packs', async () => {
    const { ws, warnings } = await workspace('bad-index');
    await makeTree(ws.path('src'), 3);
    const first = await backupTree(ws.archive, ws.path('src'));
    const before = new Set((await names(ws.backend, 'index/')).map((i) => i.name));
    await writeLargeFile(ws.path('src', 'more.bin'), 3 * 1024 * 1024, (i, n) => pseudoRandom(i + 777, n));
    const second = await backupTree(ws.archive, ws.path('src'));
    const added = (await names(ws.backend, 'index/')).filter((i) => !before.has(i.name));
    expect(added).toHaveLength(1);
    await flipBit(ws.backend, added[0]!.name, 30);

    // The first snapshot does not need the damaged index object.
    await restoreSnapshot(ws.archive, first.id, { target: ws.path('first') });
    expect(warnings.some((w) => w.includes(`index object ${added[0]!.name} fails authentication`))).toBe(
      true,
    );
    // Verify lists every problem: the damaged object and what it cost, not just the first.
    const verified = await verifyArchive(ws.archive);
    expect(verified.problems[0]!.message).toContain(`index object ${added[0]!.name} fails authentication`);
    expect(verified.problems.filter((p) => p.snapshot === second.id.slice(0, 12)).length).toBeGreaterThan(0);
    // Prune must not take the packs only the damaged object lists for leftovers.
    const packsBefore = await names(ws.backend, 'data/');
    await expect(pruneArchive(ws.archive)).rejects.toThrow(/index object .* fails authentication/);
    expect(await names(ws.backend, 'data/')).toEqual(packsBefore);
    // A backup still runs.
    const third = await backupTree(ws.archive, ws.path('src'));

    const damagedBytes = await readAll(await ws.backend.load(added[0]!.name));
    const repaired = await repairIndex(ws.archive);
    expect(repaired.indexObjectsReplaced).toBeGreaterThanOrEqual(3);
    expect(repaired.indexObjectsQuarantined).toEqual([
      { name: added[0]!.name, movedTo: `damaged/${added[0]!.name}` },
    ]);
    expect((await names(ws.backend, 'index/')).map((o) => o.name)).not.toContain(added[0]!.name);
    expect((await verifyArchive(ws.archive, { readData: true })).problems).toEqual([]);
    for (const snapshot of [second, third]) {
      const target = ws.path(`after-${snapshot.id.slice(0, 8)}`);
      await restoreSnapshot(ws.archive, snapshot.id, { target });
      expect(await compareTrees(ws.path('src'), target)).toEqual([]);
    }
    await pruneArchive(ws.archive);
    expect((await verifyArchive(ws.archive)).problems).toEqual([]);
    // Prune never removes what repair kept aside.
    expect(await readAll(await ws.backend.load(`damaged/${added[0]!.name}`))).toEqual(damagedBytes);
  });

  it('verify --read-data names every file of a damaged bundle, as restore does', async () => {
    const { ws } = await workspace('bad-bundle');
    await mkdir(ws.path('src'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(ws.path('src', `f${i}`), pseudoRandom(i + 5, 3000));
    const snapshot = await backupTree(ws.archive, ws.path('src'));
    const [data] = (await names(ws.backend, 'data/')).sort((a, b) => b.size - a.size);
    await flipBit(ws.backend, data!.name, 60_000);

    const verified = await verifyArchive(ws.archive, { readData: true });
    const files = new Set(
      verified.problems.filter((p) => p.snapshot === snapshot.id.slice(0, 12) && p.file).map((p) => p.file),
    );
    const refused = await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('out') }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DamagedRestoreError);
    const named = (refused as DamagedRestoreError).damaged.map((file) => file.path);
    expect(named.length).toBeGreaterThan(1);
    for (const file of named) expect(files).toContain(file);
    // Repair drops the damaged blob; a backup of the same files stores it again.
    const repaired = await repairArchive(ws.archive, {
      dropBlobs: new Set(verified.damagedBlobs.map((hex) => Buffer.from(hex, 'hex').toString('latin1'))),
    });
    expect(repaired.blobsDropped).toBeGreaterThan(0);
    await rm(ws.path('out'), { recursive: true, force: true });
    await backupTree(ws.archive, ws.path('src'), { force: true });
    await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('out') });
    expect(await compareTrees(ws.path('src'), ws.path('out'))).toEqual([]);
  });
});
