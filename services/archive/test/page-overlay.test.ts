import { lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { openBackend } from '@pullback/storage';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  backupTree,
  openArchive,
  restoreSnapshot,
  type Snapshot,
  SnapshotFiles,
  type SourceEntry,
  type TreeEntry,
} from '../src/index.js';
import type { ArchiveConfigOptions } from '../src/repository/config.js';
import { fileStats, newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { CountingBackend } from './helpers/counting-backend.js';
import { pseudoRandom } from './helpers/make-tree.js';

// Real archive work on a shared 2-core machine.
vi.setConfig({ testTimeout: 300_000 });

const PAGE = 8192;
const RELATION = 'base/1/16384';
/** Small regions and superblocks, so a file of a few hundred KiB crosses many of both. */
const SMALL: ArchiveConfigOptions = { pageLayout: { pageSize: PAGE, superblockPages: 4, regionPages: 32 } };

/** `PROPERTY_SEED` and `PROPERTY_PATH` replay a failure; `PROPERTY_RUNS` sets the cases (default 40). */
const SEED = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);
const PATH = process.env.PROPERTY_PATH;
const RUNS = Number(process.env.PROPERTY_RUNS ?? 40);

/** A page's bytes: 0 is a zero page; equal seeds make equal pages. */
const pageOf = (seed: number) => (seed === 0 ? Buffer.alloc(PAGE) : pseudoRandom(seed, PAGE));

/** A page delta's body as `PageOverlay` reads it: the block numbers, then the pages. */
function deltaOf(final: Buffer, blocks: readonly number[]): Buffer {
  const numbers = Buffer.alloc(blocks.length * 4);
  for (const [i, block] of blocks.entries()) numbers.writeUInt32LE(block, i * 4);
  return Buffer.concat([numbers, ...blocks.map((block) => final.subarray(block * PAGE, (block + 1) * PAGE))]);
}

async function entryOf(ws: Workspace, snapshot: Snapshot, path: string): Promise<TreeEntry> {
  const files = await SnapshotFiles.open(ws.archive, snapshot);
  for await (const entry of files.entries()) if (entry.path === path) return entry;
  throw new Error(`${path} is not in snapshot ${snapshot.id}`);
}

/**
 * Backs up `parent` as RELATION, then the same final file three times against it: as
 * the parent's entry with `changed` pages of a delta laid over it, as the live final
 * file whose `changedPages` are read where they lie (as a backup in place reads it,
 * `force`: no timestamp trusted), and read whole from disk. Returns the snapshots (same
 * entries and stats, so the same tree when the maps are the same).
 */
async function overlayAndFull(
  ws: Workspace,
  parent: Buffer,
  final: Buffer,
  changed: readonly number[],
  workers: number,
  beforeOverlay: () => void = () => {},
  /** 1: the backup's table of blob ids is incomplete, so the parent's blobs are found by a scan of the index. */
  knownBlobsMax?: number,
): Promise<{ first: Snapshot; overlaid: Snapshot; inPlace: Snapshot; full: Snapshot }> {
  await mkdir(ws.path('src', 'base', '1'), { recursive: true });
  await writeFile(ws.path('src', RELATION), parent);
  const first = await backupTree(ws.archive, ws.path('src'), { workers });
  const parentEntry = await entryOf(ws, first, RELATION);
  expect(parentEntry.content && 'pages' in parentEntry.content).toBe(true);
  await writeFile(ws.path('delta'), Buffer.concat([Buffer.from('head'), deltaOf(final, changed)]));
  await writeFile(ws.path('final'), final);
  const dirs: SourceEntry[] = [];
  for (const path of ['', 'base', 'base/1']) {
    dirs.push({
      path,
      absolute: ws.path('src', path),
      stats: await lstat(ws.path('src', path), { bigint: true }),
    });
  }
  const stats = fileStats(final.length);
  const backup = (file: SourceEntry, force = false) =>
    backupTree(ws.archive, ws.path('src'), {
      parent: first.id,
      workers,
      force,
      ...(knownBlobsMax === undefined ? {} : { knownBlobsMax }),
      source: async function* () {
        yield* dirs;
        yield file;
      },
    });
  beforeOverlay();
  const overlaid = await backup({
    path: RELATION,
    absolute: '',
    stats,
    overlay: { parent: parentEntry, path: ws.path('delta'), at: 4, count: changed.length },
  });
  beforeOverlay();
  const inPlace = await backup(
    { path: RELATION, absolute: ws.path('final'), stats, changedPages: Uint32Array.from(changed) },
    true,
  );
  const full = await backup({ path: RELATION, absolute: ws.path('final'), stats });
  return { first, overlaid, inPlace, full };
}

async function restoredFile(ws: Workspace, snapshot: Snapshot, target: string): Promise<Buffer> {
  await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path(target) });
  return readFile(ws.path(target, RELATION));
}

const seed = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 40 }) },
);

/**
 * A parent file of pages (its last one maybe short), the final file's size (often near
 * the parent's, across a superblock or region boundary either way), and its changes.
 */
const overlayCase = fc
  .record({
    parentSeeds: fc.array(seed, { minLength: 8, maxLength: 110 }),
    tail: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: PAGE - 1 }) },
    ),
  })
  .chain((parent) =>
    fc.record({
      parentSeeds: fc.constant(parent.parentSeeds),
      tail: fc.constant(parent.tail),
      newPages: fc.oneof(
        fc.constant(parent.parentSeeds.length + (parent.tail > 0 ? 1 : 0)),
        fc.integer({ min: -10, max: 10 }).map((d) => Math.max(8, parent.parentSeeds.length + d)),
        fc.integer({ min: 8, max: Math.max(8, parent.parentSeeds.length - 1) }),
        fc.integer({ min: 8, max: 120 }),
      ),
      /** Pages changed, by position (modulo the new size); -1: the parent's page again (an identical page). */
      changes: fc.oneof(
        fc.constant([]),
        fc.array(fc.record({ at: fc.nat(), seed: fc.oneof(fc.constant(-1), seed) }), { maxLength: 40 }),
        // A few, near the start: the later regions untouched.
        fc.array(fc.record({ at: fc.nat({ max: 40 }), seed: fc.oneof(fc.constant(-1), seed) }), {
          maxLength: 6,
        }),
      ),
      first: fc.boolean(),
      last: fc.boolean(),
    }),
  );

function materialise(c: CaseInput) {
  const parent = Buffer.concat([...c.parentSeeds.map(pageOf), pseudoRandom(7777, c.tail)]);
  const parentPages = Math.ceil(parent.length / PAGE);
  const contents = new Map<number, number>();
  for (const change of c.changes) contents.set(change.at % c.newPages, change.seed);
  if (c.first) contents.set(0, contents.get(0) ?? 11);
  if (c.last) contents.set(c.newPages - 1, contents.get(c.newPages - 1) ?? 13);
  // Pages past the parent's end are new, always.
  for (let p = parentPages; p < c.newPages; p++)
    if (!contents.has(p) || contents.get(p) === -1) contents.set(p, p % 5);
  const parentPage = (p: number) => {
    const page = Buffer.alloc(PAGE);
    parent.copy(page, 0, p * PAGE, Math.min(parent.length, (p + 1) * PAGE));
    return page;
  };
  const final = Buffer.concat(
    Array.from({ length: c.newPages }, (_, p) => {
      const content = contents.get(p);
      return content === undefined || content === -1 ? parentPage(p) : pageOf(content);
    }),
  );
  const changed = [...contents.keys()].sort((a, b) => a - b);
  return { parent, final, changed };
}

interface CaseInput {
  readonly parentSeeds: readonly number[];
  readonly tail: number;
  readonly newPages: number;
  readonly changes: readonly { at: number; seed: number }[];
  readonly first: boolean;
  readonly last: boolean;
}

describe('page overlay: new pages laid over the parent page maps', () => {
  it('property: makes the snapshot a backup of the whole final file makes, and restores it', async () => {
    await fc.assert(
      fc.asyncProperty(overlayCase, fc.boolean(), async (input, scanned) => {
        const { parent, final, changed } = materialise(input);
        const ws = await newWorkspace('page-overlay', undefined, SMALL);
        try {
          const { overlaid, inPlace, full } = await overlayAndFull(
            ws,
            parent,
            final,
            changed,
            0,
            undefined,
            scanned ? 1 : undefined,
          );
          expect(await entryOf(ws, overlaid, RELATION)).toEqual(await entryOf(ws, full, RELATION));
          expect(overlaid.tree).toEqual(full.tree);
          expect(inPlace.tree).toEqual(full.tree);
          expect((await restoredFile(ws, overlaid, 'restored')).equals(final)).toBe(true);
        } finally {
          await ws.remove();
        }
      }),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH === undefined ? {} : { path: PATH }),
      },
    );
  });

  it("reads none of the parent's unchanged regions: 16 MiB regions, worker threads, growth and a first and last page", async () => {
    const ws = await newWorkspace('page-overlay-real');
    try {
      const counting = new CountingBackend(openBackend(ws.archiveDir));
      ws.archive = await openArchive({ archive: counting, keyFile: ws.keyFile });
      const regionPages = 2048;
      // Three regions and a bit: 6200 pages (48 MiB) of incompressible pages.
      const parentPages = 3 * regionPages + 56;
      const parent = Buffer.concat(Array.from({ length: parentPages }, (_, p) => pseudoRandom(p + 1, PAGE)));
      const final = Buffer.alloc((parentPages + 20) * PAGE);
      parent.copy(final);
      // Page 0, the last of region 0, one in region 2, and 20 pages grown at the end.
      const changed = [0, regionPages - 1, 2 * regionPages + 100];
      for (let p = parentPages; p < parentPages + 20; p++) changed.push(p);
      for (const p of changed) pseudoRandom(100_000 + p, PAGE).copy(final, p * PAGE);
      // Reset before the overlay, then before the backup in place: the first count is the overlay's.
      const counts: number[] = [];
      const { overlaid, inPlace, full } = await overlayAndFull(ws, parent, final, changed, 2, () => {
        counts.push(counting.dataBytes);
        counting.reset();
      });
      const overlaidBytes = counts[1]!;
      expect(overlaid.tree).toEqual(full.tree);
      expect(inPlace.tree).toEqual(full.tree);
      // Region 1 is the parent's map as it is; of the others only the superblocks
      // holding a new page were read (3 of 128 KiB, and the last region's short one),
      // the new pages taken from a delta or where they lie in the live file.
      expect(overlaidBytes).toBeLessThan(8 * 128 * 1024);
      expect(counting.dataBytes).toBeLessThan(8 * 128 * 1024);
      expect(overlaid.stats.bytesRead).toBeLessThan(8 * 128 * 1024);
      expect(inPlace.stats.bytesRead).toBeLessThan(8 * 128 * 1024);
      expect(full.stats.bytesRead).toBe(final.length);
      expect((await restoredFile(ws, overlaid, 'restored')).equals(final)).toBe(true);
    } finally {
      await ws.remove();
    }
  });

  it("reads the parent's blobs for scattered changes in a few requests, not one per blob", async () => {
    const ws = await newWorkspace('page-overlay-scattered');
    try {
      const counting = new CountingBackend(openBackend(ws.archiveDir));
      ws.archive = await openArchive({ archive: counting, keyFile: ws.keyFile });
      // Two 16 MiB regions with one page changed in each of their 256 superblocks, as
      // random updates leave a table: every superblock takes the rest from the parent.
      const parentPages = 2 * 2048;
      const parent = Buffer.concat(Array.from({ length: parentPages }, (_, p) => pseudoRandom(p + 1, PAGE)));
      const final = Buffer.from(parent);
      const changed = Array.from({ length: parentPages / 16 }, (_, superblock) => superblock * 16 + 5);
      for (const p of changed) pseudoRandom(200_000 + p, PAGE).copy(final, p * PAGE);
      const { overlaid, full } = await overlayAndFull(ws, parent, final, changed, 2, () => counting.reset());
      expect(overlaid.tree).toEqual(full.tree);
      // 256 parent blobs were needed: read one by one, that was 256 requests and more.
      expect(counting.dataLoads).toBeLessThan(16);
      expect((await restoredFile(ws, overlaid, 'restored')).equals(final)).toBe(true);
    } finally {
      await ws.remove();
    }
  });

  it('shrinks across a region: the cut region is laid over, the regions past the end are gone', async () => {
    const ws = await newWorkspace('page-overlay-shrink', undefined, SMALL);
    try {
      const parent = Buffer.concat(Array.from({ length: 100 }, (_, p) => pseudoRandom(p + 1, PAGE)));
      const final = Buffer.from(parent.subarray(0, 45 * PAGE));
      const { overlaid, full } = await overlayAndFull(ws, parent, final, [], 0);
      expect(overlaid.tree).toEqual(full.tree);
      expect((await entryOf(ws, overlaid, RELATION)).size).toBe(45 * PAGE);
      expect((await restoredFile(ws, overlaid, 'restored')).equals(final)).toBe(true);
    } finally {
      await ws.remove();
    }
  });

  it('refuses new pages past the end, or a growth the new pages do not cover: never a wrong snapshot', async () => {
    const ws = await newWorkspace('page-overlay-refuse', undefined, SMALL);
    try {
      const parent = Buffer.concat(Array.from({ length: 20 }, (_, p) => pseudoRandom(p + 1, PAGE)));
      await mkdir(ws.path('src', 'base', '1'), { recursive: true });
      await writeFile(ws.path('src', RELATION), parent);
      const first = await backupTree(ws.archive, ws.path('src'), { workers: 0 });
      const parentEntry = await entryOf(ws, first, RELATION);
      const attempt = async (size: number, blocks: number[]) => {
        await rm(ws.path('delta'), { force: true });
        await writeFile(ws.path('delta'), deltaOf(Buffer.alloc(25 * PAGE), blocks));
        return backupTree(ws.archive, ws.path('src'), {
          parent: first.id,
          workers: 0,
          source: async function* () {
            for (const path of ['', 'base', 'base/1']) {
              yield {
                path,
                absolute: ws.path('src', path),
                stats: await lstat(ws.path('src', path), { bigint: true }),
              };
            }
            yield {
              path: RELATION,
              absolute: '',
              stats: fileStats(size),
              overlay: { parent: parentEntry, path: ws.path('delta'), at: 0, count: blocks.length },
            };
          },
        });
      };
      await expect(attempt(20 * PAGE, [3, 20])).rejects.toThrow(/block 20 is past the end/);
      await expect(attempt(20 * PAGE, [5, 3])).rejects.toThrow(/block 3 is out of order/);
      await expect(attempt(23 * PAGE, [20, 22])).rejects.toThrow(/shorter than they assume/);
    } finally {
      await ws.remove();
    }
  });
});
