import { open } from 'node:fs/promises';
import { ArchiveError, throwIfAborted } from '../errors.js';
import { canOverlayPages } from '../fs/page-overlay.js';
import { skipReason } from '../fs/skip-reason.js';
import type { SourceEntry } from '../fs/walk-source.js';
import { nativePath } from '../snapshot/file-name.js';
import { decodePageMap } from '../snapshot/page-map.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { parentSlices, planOverlay } from '../threads/overlay-plan.js';
import type { OverlayResult, OverlayTask } from '../threads/tasks.js';
import type { ContentWork, StoredFile } from './content-work.js';
import { pageCheckFor } from './page-checksums.js';

/**
 * Stores a relation file given as its parent's with new pages (`source.overlay`),
 * region by region, reading only what changed: a region with no new page and the
 * parent's length is the parent's map, as it is (nothing read); any other region is
 * laid over the parent's map by a worker (`handleOverlay`), which reads the new pages
 * and, of the parent, only the blobs of the superblocks that hold a new page or whose
 * end moved. The maps are the ones `storePagedFile` makes of the whole new file against
 * the same parent. `parent` is the backup's parent entry of the path: it must be the
 * overlay's (a parent whose data is lost is not one), else the file fails, never a
 * wrong snapshot.
 */
export async function storeOverlaidFile(
  work: ContentWork,
  source: SourceEntry,
  size: number,
  parent: TreeEntry | undefined,
  onReused: (bytes: number) => void,
): Promise<StoredFile> {
  const overlay = source.overlay!;
  const { pageSize } = work.archive.config;
  if (!canOverlayPages(work.archive.config, overlay.parent, size, pageSize)) {
    throw new RangeError(`${source.path}: its parent is not stored as pages, or it is too small to be`);
  }
  const maps = pagesOf(overlay.parent)!;
  const parentMaps = pagesOf(parent);
  if (
    parentMaps === undefined ||
    parent?.size !== overlay.parent.size ||
    parentMaps.length !== maps.length ||
    parentMaps.some((id, i) => id !== maps[i])
  ) {
    throw new ArchiveError(
      'missing-data',
      `${JSON.stringify(source.path)}: the parent its new pages are laid over is not the backup's parent, or its data is lost`,
    );
  }
  const blocks = await readBlocks(overlay.path, overlay.at, overlay.count);
  const pagesAt = overlay.at + overlay.count * 4;
  const stored = await layPagesOver(
    work,
    source,
    size,
    overlay.parent,
    blocks,
    onReused,
    (_region, from) => ({
      path: overlay.path,
      pages: { at: pagesAt + from * pageSize },
    }),
  );
  if (typeof stored === 'string') throw new RangeError(`${overlay.path}: ${stored}`);
  return stored;
}

/**
 * Stores a live relation file of which only `source.changedPages` changed since
 * `parent` (the backup's parent entry, stored as pages: `canOverlayPages`): the
 * changed pages are read where they lie in the file, checked against the data
 * checksums, and laid over the parent's as `storeOverlaidFile` lays a delta's. A
 * string says why the file could not be read (`skipReason`: it vanished).
 */
export function storePagesInPlace(
  work: ContentWork,
  source: SourceEntry,
  size: number,
  parent: TreeEntry,
  onReused: (bytes: number) => void,
): Promise<StoredFile | string> {
  const pages = source.changedPages!;
  const blocks = Buffer.from(pages.buffer, pages.byteOffset, pages.byteLength);
  const regionBytes = work.archive.config.pageSize * work.archive.config.regionPages;
  const check = pageCheckFor(work.pageChecksums, source.path);
  // Stored little-endian, as the tasks read them; this is little-endian on every host Node runs on here.
  return layPagesOver(work, source, size, parent, blocks, onReused, (r) => ({
    path: source.absolute,
    pages: { regionAt: r * regionBytes, ...(check === undefined ? {} : { check }) },
  }));
}

/**
 * `parent`'s pages with `blocks` (u32le, increasing) new, region by region: a region
 * with no new page and the parent's length keeps the parent's map; the others go to a
 * worker (`handleOverlay`) with the parent's blobs the changed superblocks need.
 * `where` says where region `r`'s new pages (from its `from`th) are.
 */
async function layPagesOver(
  work: ContentWork,
  source: SourceEntry,
  size: number,
  parent: TreeEntry,
  blocks: Buffer,
  onReused: (bytes: number) => void,
  where: (r: number, from: number) => Pick<OverlayTask, 'path' | 'pages'>,
): Promise<StoredFile | string> {
  const { pageSize, regionPages } = work.archive.config;
  const corrupt = (why: string) =>
    new ArchiveError('corrupt', `the new pages of ${JSON.stringify(source.path)}: ${why}`);
  const maps = pagesOf(parent)!;
  const parentSize = parent.size ?? 0;
  const count = blocks.length / 4;
  const parentPages = Math.ceil(parentSize / pageSize);
  let past = 0;
  for (let i = 0; i < count; i++) {
    const block = blocks.readUInt32LE(i * 4);
    if ((block + 1) * pageSize > size) throw corrupt(`block ${block} is past the end`);
    if (i > 0 && block <= blocks.readUInt32LE(i * 4 - 4)) throw corrupt(`block ${block} is out of order`);
    if (block >= parentPages) past++;
  }
  if (size > parentSize && past !== Math.ceil(size / pageSize) - parentPages) {
    throw corrupt(`the parent's copy is shorter than they assume`);
  }
  const regionBytes = pageSize * regionPages;
  const regions = Math.ceil(size / regionBytes);
  const results = await Promise.all(
    Array.from({ length: regions }, async (_, r) => {
      const regionStart = r * regionBytes;
      const length = Math.min(regionBytes, size - regionStart);
      const parentLength = Math.max(0, Math.min(regionBytes, parentSize - regionStart));
      const from = firstAtLeast(blocks, r * regionPages);
      const to = firstAtLeast(blocks, (r + 1) * regionPages);
      const parentMapHex = maps[r];
      if (from === to && parentMapHex !== undefined && parentLength === length) {
        onReused(length);
        return { id: parentMapHex, length };
      }
      return work.slots.use(async () => {
        throwIfAborted(work.signal);
        const parentMapId = parentMapHex === undefined ? undefined : Buffer.from(parentMapHex, 'hex');
        const parentMap = parentMapId ? await work.readParentMap(parentMapId, source.path) : undefined;
        const map = parentMap ? decodePageMap(parentMap) : undefined;
        if (map !== undefined && map.length !== parentLength) {
          throw corrupt(`the parent's region ${r} holds ${map.length} bytes, its size says ${parentLength}`);
        }
        const regionBlocks = Buffer.allocUnsafe((to - from) * 4);
        for (let i = from; i < to; i++) {
          regionBlocks.writeUInt32LE(blocks.readUInt32LE(i * 4) - r * regionPages, (i - from) * 4);
        }
        // Which of the parent's blobs the changed superblocks take bytes from.
        let steps: ReturnType<typeof planOverlay>;
        try {
          steps = planOverlay(work.archive.config, length, map, {
            length: to - from,
            at: (i) => regionBlocks.readUInt32LE(i * 4),
          });
        } catch (error) {
          throw corrupt(`region ${r}: ${(error as Error).message}`);
        }
        const wanted = new Set<number>();
        for (const step of steps) {
          for (const [start, end] of step.parentPieces) {
            for (const slice of parentSlices(map!, start, end)) wanted.add(slice.blob);
          }
        }
        const indices = [...wanted].sort((a, b) => a - b);
        const sealed = await work.readParentBlobs(
          indices.map((i) => map!.blobs[i]!),
          source.path,
        );
        const task: OverlayTask = {
          kind: 'overlay',
          ...where(r, from),
          blocks: regionBlocks,
          length,
          ...(parentMapId && parentMap ? { parentMapId, parentMap } : {}),
          parentBlobs: sealed.map((blob, i) => ({
            index: indices[i]!,
            compression: blob.location.compression,
            plainLength: blob.location.plainLength,
            sealed: blob.sealed,
          })),
        };
        let result: OverlayResult;
        try {
          result = await work.pool.run<OverlayResult>(task, [
            ...(parentMap ? [parentMap] : []),
            ...sealed.map((blob) => blob.sealed),
          ]);
        } catch (error) {
          const why = skipReason(error);
          if (why === undefined) throw error;
          return why;
        }
        await work.blobs.store(result.blobs);
        if (result.mapBlob) await work.blobs.store([result.mapBlob]);
        for (const block of result.corrupt ?? []) work.pageChecksums?.onCorrupt(source.path, block);
        work.onRead(result.bytesRead);
        return { id: result.mapId.toString('hex'), length: result.length };
      });
    }),
  );
  const skipped = results.find((result) => typeof result === 'string');
  if (skipped !== undefined) return skipped;
  const stored = results as { id: string; length: number }[];
  return { content: { pages: stored.map((m) => m.id) }, size: stored.reduce((sum, m) => sum + m.length, 0) };
}

function pagesOf(entry: TreeEntry | undefined): readonly string[] | undefined {
  return entry?.type === 'file' && entry.content && 'pages' in entry.content
    ? entry.content.pages
    : undefined;
}

/** The `count` block numbers at `at` in `path` (4 bytes a page of the file: bounded by the change). */
async function readBlocks(path: string, at: number, count: number): Promise<Buffer> {
  const handle = await open(nativePath(path), 'r');
  try {
    const blocks = Buffer.alloc(count * 4);
    const { bytesRead } = await handle.read(blocks, 0, blocks.length, at);
    if (bytesRead !== blocks.length) {
      throw new ArchiveError('corrupt', `the new pages in ${path}: the block numbers end early`);
    }
    return blocks;
  } finally {
    await handle.close();
  }
}

/** Index of the first block number not below `block` (they are increasing). */
function firstAtLeast(blocks: Buffer, block: number): number {
  let lo = 0;
  let hi = blocks.length / 4;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (blocks.readUInt32LE(mid * 4) < block) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
