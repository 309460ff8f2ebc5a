import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backupTree, restoreSnapshot, type Snapshot, SnapshotFiles, type SourceEntry } from '../src/index.js';
import { fileStats, newWorkspace, onDisk, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

// Real archive work on a shared 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

/**
 * `SourceEntry.changedPages`: what a backup in place is told changed in a live file
 * since the parent. The list only spares reading: where the parent cannot take it, the
 * file itself is read whole.
 */
const PAGE = 8192;
const RELATION = 'base/1/16384';

const pages = (from: number, count: number, salt = 0) =>
  Buffer.concat(Array.from({ length: count }, (_, i) => pseudoRandom(salt + from + i + 1, PAGE)));

let ws: Workspace;
beforeEach(async () => {
  ws = await newWorkspace('changed-pages');
  await mkdir(ws.path('src', 'base', '1'), { recursive: true });
});
afterEach(() => ws.remove());

/** Backs up the tree with `parent` as RELATION's bytes, then writes `now` in its place. */
async function parentThen(parent: Buffer, now: Buffer | undefined): Promise<Snapshot> {
  await writeFile(ws.path('src', RELATION), parent);
  const first = await backupTree(ws.archive, ws.path('src'), { workers: 0 });
  if (now === undefined) await rm(ws.path('src', RELATION));
  else await writeFile(ws.path('src', RELATION), now);
  return first;
}

/** A backup in place against `parent`: RELATION listed at `size` with `changed` pages. */
async function inPlace(
  parent: Snapshot,
  size: number,
  changed: readonly number[],
  options: { ignoreVanished?: boolean; onWarning?: (message: string) => void } = {},
): Promise<Snapshot> {
  const root = ws.path('src');
  return backupTree(ws.archive, root, {
    parent: parent.id,
    workers: 0,
    force: true,
    ...options,
    source: async function* (): AsyncGenerator<SourceEntry> {
      for (const path of ['', 'base', 'base/1']) yield await onDisk(root, path);
      yield {
        path: RELATION,
        absolute: ws.path('src', RELATION),
        stats: fileStats(size),
        changedPages: Uint32Array.from(changed),
      };
    },
  });
}

async function restored(snapshot: Snapshot): Promise<Buffer> {
  const target = ws.path(`restored-${snapshot.id.slice(0, 8)}`);
  await restoreSnapshot(ws.archive, snapshot.id, { target });
  return readFile(`${target}/${RELATION}`);
}

async function contentOf(snapshot: Snapshot): Promise<unknown> {
  const files = await SnapshotFiles.open(ws.archive, snapshot);
  for await (const entry of files.entries()) if (entry.path === RELATION) return entry.content;
  return undefined;
}

describe('changed pages of a live file, given by the source', () => {
  it("nothing changed at the parent's size: the parent's content, not a byte read", async () => {
    const parent = pages(0, 20);
    // What lies on disk now differs: the source vouches, so it is not read.
    const first = await parentThen(parent, pages(0, 20, 500));
    const snapshot = await inPlace(first, parent.length, []);
    expect(snapshot.stats.bytesRead).toBe(0);
    expect(await contentOf(snapshot)).toEqual(await contentOf(first));
    expect((await restored(snapshot)).equals(parent)).toBe(true);
  });

  it('reads only the changed pages, where they lie, laid over the parent', async () => {
    const parent = pages(0, 200);
    const now = Buffer.concat([parent, pages(200, 4, 900)]);
    pages(7, 1, 700).copy(now, 7 * PAGE);
    const first = await parentThen(parent, now);
    const snapshot = await inPlace(first, now.length, [7, 200, 201, 202, 203]);
    // The new pages, and of the parent the two superblocks (128 KiB) that hold one.
    expect(snapshot.stats.bytesRead).toBeLessThan(5 * PAGE + 2 * 128 * 1024);
    expect((await restored(snapshot)).equals(now)).toBe(true);
  });

  it.each([
    ['nothing changed, at another size', pages(0, 20), pages(0, 24), []],
    ['the growth not among the changed pages', pages(0, 20), pages(0, 24), [3, 21]],
    ['a changed page past the end', pages(0, 20), pages(0, 20, 50), [3, 20]],
    ['pages out of order', pages(0, 20), pages(0, 20, 50), [5, 3]],
    ['a parent too small to be stored as pages', pages(0, 2), pages(0, 20, 60), [1]],
  ] as const)(
    'reads the whole file when the parent cannot take the list: %s',
    async (_what, parent, now, changed) => {
      const first = await parentThen(parent, now);
      const snapshot = await inPlace(first, now.length, changed);
      expect(snapshot.stats.bytesRead).toBe(now.length);
      expect((await restored(snapshot)).equals(now)).toBe(true);
    },
  );

  it('reads the whole file when the parent has none of that path', async () => {
    await writeFile(ws.path('src', 'other'), 'x');
    const first = await backupTree(ws.archive, ws.path('src'), { workers: 0 });
    const now = pages(0, 20);
    await writeFile(ws.path('src', RELATION), now);
    const snapshot = await inPlace(first, now.length, [2]);
    expect(snapshot.stats.bytesRead).toBe(now.length);
    expect((await restored(snapshot)).equals(now)).toBe(true);
  });

  it('keeps zeros for changed pages past the end of a file truncated since it was listed', async () => {
    const parent = pages(0, 20);
    const now = Buffer.concat([parent, pages(20, 4, 300)]);
    const first = await parentThen(parent, now);
    // Listed at 24 pages, cut to 22 before it is read: the WAL replays the cut.
    await truncate(ws.path('src', RELATION), 22 * PAGE);
    const snapshot = await inPlace(first, now.length, [20, 21, 22, 23]);
    const expected = Buffer.concat([now.subarray(0, 22 * PAGE), Buffer.alloc(2 * PAGE)]);
    expect((await restored(snapshot)).equals(expected)).toBe(true);
  });

  it('leaves out a file gone before its changed pages are read: silently with ignoreVanished, else told', async () => {
    const parent = pages(0, 20);
    const first = await parentThen(parent, undefined);
    const quiet: string[] = [];
    const silent = await inPlace(first, parent.length, [4], {
      ignoreVanished: true,
      onWarning: (message) => quiet.push(message),
    });
    expect(quiet).toEqual([]);
    expect(await contentOf(silent)).toBeUndefined();
    const told: string[] = [];
    await inPlace(first, parent.length, [4], { onWarning: (message) => told.push(message) });
    expect(told).toEqual([expect.stringMatching(/^skipped "base\/1\/16384": cannot read the file/)]);
  });
});
