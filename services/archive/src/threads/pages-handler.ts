import { closeSync } from 'node:fs';
import { idKey } from '../blob-index/blob-location.js';
import { pageHash as hashPage, ID_BYTES, PAGE_HASH_BYTES } from '../crypto/hash.js';
import { openForRead, readFully } from '../fs/read-range.js';
import { sealBlob, sealBlobWithId } from '../pack/blob-codec.js';
import { BlobType, Compression, type SealedBlob } from '../pack/blob-entry.js';
import { decodePageMap, encodePageMap, type PageMap } from '../snapshot/page-map.js';
import type { PagesResult, PagesTask } from './tasks.js';
import { scratch, type WorkContext } from './work-context.js';

/** New pages that are not whole superblocks are sealed together up to this size. */
const GROUP_BYTES = 128 * 1024;

/** Index of the run covering byte `offset` (runs are sorted, gapless, from 0). */
function runAt(runs: Uint32Array, offset: number): number {
  let lo = 0;
  let hi = runs.length / 4 - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (runs[mid * 4]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * One region of a relation file. Each superblock is hashed (keyed, as it may become a
 * blob id); one equal to the parent's superblock at the same place keeps the parent's
 * pages and runs. Otherwise its pages are hashed (plain, see `pageHash`): pages equal
 * to the parent's keep their runs, and the rest are stored,
 * whole superblocks as one blob (named by the superblock hash) and scattered pages
 * grouped into blobs of up to 128 KiB. The first backup hashes every page once, so
 * later ones can store a changed page alone.
 */
export async function handlePages(ctx: WorkContext, task: PagesTask): Promise<PagesResult> {
  const { pageSize, superblockPages } = ctx.config;
  const superblockBytes = pageSize * superblockPages;
  const fd = openForRead(task.path);
  try {
    return await pagesOf(ctx, task, fd, pageSize, superblockPages, superblockBytes);
  } finally {
    closeSync(fd);
  }
}

/** Superblocks read at a time: memory does not follow the region size. */
const WINDOW_SUPERBLOCKS = 8;

async function pagesOf(
  ctx: WorkContext,
  task: PagesTask,
  fd: number,
  pageSize: number,
  superblockPages: number,
  superblockBytes: number,
): Promise<PagesResult> {
  const parent: PageMap | undefined = task.parentMap ? decodePageMap(task.parentMap) : undefined;
  const maxPages = Math.ceil(task.length / pageSize);
  const superblockHashes = Buffer.allocUnsafe(Math.ceil(maxPages / superblockPages) * ID_BYTES);
  const pageHashes = Buffer.allocUnsafe(maxPages * PAGE_HASH_BYTES);
  const window = scratch(Math.min(WINDOW_SUPERBLOCKS * superblockBytes, task.length));
  let windowStart = 0;
  let windowLength = 0;
  let eof = false;
  let length = 0;
  const blobIds: Buffer[] = [];
  const blobIndex = new Map<string, number>();
  const indexOf = (id: Buffer) => {
    const key = idKey(id);
    let index = blobIndex.get(key);
    if (index === undefined) {
      index = blobIds.length;
      blobIds.push(id);
      blobIndex.set(key, index);
    }
    return index;
  };
  const runs: number[] = [];
  const blobs: SealedBlob[] = [];
  const sealed = new Set<string>();
  let group: Buffer[] = [];
  let groupStarts: number[] = [];
  let groupBytes = 0;
  let allSame = parent !== undefined;

  const flushGroup = async () => {
    if (group.length === 0) return;
    const blob = await sealBlob(
      ctx.encryptionKey,
      ctx.hash,
      BlobType.Data,
      Buffer.concat(group),
      ctx.compression,
    );
    const index = indexOf(blob.id);
    if (!sealed.has(idKey(blob.id))) {
      sealed.add(idKey(blob.id));
      blobs.push(blob);
    }
    let at = 0;
    for (let i = 0; i < group.length; i++) {
      runs.push(groupStarts[i]!, group[i]!.length, index, at);
      at += group[i]!.length;
    }
    group = [];
    groupStarts = [];
    groupBytes = 0;
  };

  /** Copies the parent's runs over [start, end) of the region. */
  const keepParent = (start: number, end: number) => {
    const pr = parent!.runs;
    for (let r = runAt(pr, start); r < pr.length / 4 && pr[r * 4]! < end; r++) {
      const runStart = pr[r * 4]!;
      const from = Math.max(start, runStart);
      const to = Math.min(end, runStart + pr[r * 4 + 1]!);
      const blob = parent!.blobs[pr[r * 4 + 2]!]!;
      runs.push(from, to - from, indexOf(blob), pr[r * 4 + 3]! + (from - runStart));
    }
  };

  const parentSuperblocks = parent ? parent.superblockHashes.length / ID_BYTES : 0;
  const parentPages = parent ? parent.pageHashes.length / PAGE_HASH_BYTES : 0;
  for (let s = 0; ; s++) {
    const start = s * superblockBytes;
    if (start >= windowStart + windowLength) {
      // A short read means the file ends (or shrank) there.
      if (eof || start >= task.length) break;
      const want = Math.min(window.length, task.length - start);
      windowStart = start;
      windowLength = readFully(fd, window, (task.base ?? 0) + task.offset + start, want);
      eof = windowLength < want;
      if (windowLength === 0) break;
    }
    const end = Math.min(windowStart + windowLength, start + superblockBytes);
    length = end;
    const pages = Math.ceil(end / pageSize);
    const bytes = window.subarray(start - windowStart, end - windowStart);
    const hash = ctx.hash.digest(bytes);
    hash.copy(superblockHashes, s * ID_BYTES);
    const parentEnd = parent ? Math.min(parent.length, start + superblockBytes) : 0;
    if (
      parent &&
      s < parentSuperblocks &&
      parentEnd === end &&
      parent.superblockHashes.compare(hash, 0, ID_BYTES, s * ID_BYTES, (s + 1) * ID_BYTES) === 0
    ) {
      const firstPage = s * superblockPages;
      const lastPage = Math.min(pages, firstPage + superblockPages);
      parent.pageHashes.copy(
        pageHashes,
        firstPage * PAGE_HASH_BYTES,
        firstPage * PAGE_HASH_BYTES,
        lastPage * PAGE_HASH_BYTES,
      );
      keepParent(start, end);
      continue;
    }
    allSame = false;
    const changed: number[] = [];
    const firstPage = s * superblockPages;
    const lastPage = Math.ceil(end / pageSize);
    for (let p = firstPage; p < lastPage; p++) {
      const pageStart = p * pageSize;
      const pageEnd = Math.min(end, pageStart + pageSize);
      const pageHash = hashPage(window.subarray(pageStart - windowStart, pageEnd - windowStart));
      pageHash.copy(pageHashes, p * PAGE_HASH_BYTES, 0, PAGE_HASH_BYTES);
      const same =
        parent !== undefined &&
        p < parentPages &&
        Math.min(parent.length, pageStart + pageSize) === pageEnd &&
        parent.pageHashes.compare(
          pageHash,
          0,
          PAGE_HASH_BYTES,
          p * PAGE_HASH_BYTES,
          (p + 1) * PAGE_HASH_BYTES,
        ) === 0;
      if (same) keepParent(pageStart, pageEnd);
      else changed.push(p);
    }
    if (changed.length === lastPage - firstPage) {
      // Every page is new: the superblock is one blob, named by the hash just computed.
      const index = indexOf(hash);
      if (!sealed.has(idKey(hash))) {
        sealed.add(idKey(hash));
        blobs.push(await sealBlobWithId(ctx.encryptionKey, BlobType.Data, hash, bytes, ctx.compression));
      }
      runs.push(start, end - start, index, 0);
      continue;
    }
    for (const p of changed) {
      const pageStart = p * pageSize;
      // Copied: the window is reused for the next superblocks.
      const page = Buffer.from(
        window.subarray(pageStart - windowStart, Math.min(end, pageStart + pageSize) - windowStart),
      );
      group.push(page);
      groupStarts.push(pageStart);
      groupBytes += page.length;
      if (groupBytes >= GROUP_BYTES) await flushGroup();
    }
  }
  await flushGroup();
  const pages = Math.ceil(length / pageSize);
  const superblocks = Math.ceil(pages / superblockPages);
  if (parent?.length !== length) allSame = false;

  if (allSame && task.parentMapId) {
    return { mapId: task.parentMapId, blobs, bytesRead: length };
  }
  const map: PageMap = {
    length,
    pageSize,
    superblockPages,
    superblockHashes: superblockHashes.subarray(0, superblocks * ID_BYTES),
    pageHashes: pageHashes.subarray(0, pages * PAGE_HASH_BYTES),
    blobs: blobIds,
    runs: mergeRuns(runs),
  };
  const mapBlob = await sealBlob(
    ctx.encryptionKey,
    ctx.hash,
    BlobType.Map,
    encodePageMap(map),
    Compression.None,
  );
  return { mapId: mapBlob.id, mapBlob, blobs, bytesRead: length };
}

/** Sorts runs by start and joins neighbours that continue the same blob. */
function mergeRuns(flat: number[]): Uint32Array {
  const count = flat.length / 4;
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => flat[a * 4]! - flat[b * 4]!);
  const out: number[] = [];
  for (const i of order) {
    const start = flat[i * 4]!;
    const len = flat[i * 4 + 1]!;
    const blob = flat[i * 4 + 2]!;
    const at = flat[i * 4 + 3]!;
    const last = out.length - 4;
    if (
      last >= 0 &&
      out[last + 2] === blob &&
      out[last]! + out[last + 1]! === start &&
      out[last + 3]! + out[last + 1]! === at
    ) {
      out[last + 1]! += len;
    } else {
      out.push(start, len, blob, at);
    }
  }
  return Uint32Array.from(out);
}
