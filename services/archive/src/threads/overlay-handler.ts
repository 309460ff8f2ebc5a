import { closeSync } from 'node:fs';
import { CorruptDataError } from '../errors.js';
import { openForRead, readFully } from '../fs/read-range.js';
import { openBlob } from '../pack/blob-codec.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { parentSlices, planOverlay } from './overlay-plan.js';
import { checkPages } from './page-check.js';
import { RegionMapBuilder } from './region-map.js';
import type { OverlayResult, OverlayTask } from './tasks.js';
import { scratch, type WorkContext } from './work-context.js';

/**
 * One region of a relation file made of the parent's region and new pages, without
 * reading the parent's unchanged superblocks: each superblock with no new page and the
 * parent's end keeps the parent's hashes and runs; the others are assembled (new pages
 * from the file, the rest from the parent's blobs, zeros past the parent's end) and go
 * through the same `RegionMapBuilder` as a region read from a file, so the map is the
 * one a backup of the whole new file would make. The new pages come from a page delta
 * or, in place, from the live file itself (checked against the data checksums).
 */
export async function handleOverlay(ctx: WorkContext, task: OverlayTask): Promise<OverlayResult> {
  const { pageSize, superblockPages } = ctx.config;
  const superblockBytes = pageSize * superblockPages;
  const parent = task.parentMap ? decodePageMap(task.parentMap) : undefined;
  if (parent && (parent.pageSize !== pageSize || parent.superblockPages !== superblockPages)) {
    throw new CorruptDataError(
      `the parent's page map of ${task.path} has pages of ${parent.pageSize} bytes in superblocks of ${parent.superblockPages}, the archive ${pageSize} and ${superblockPages}`,
    );
  }
  const count = task.blocks.length / 4;
  const blocks = { length: count, at: (i: number) => task.blocks.readUInt32LE(i * 4) };
  const steps = planOverlay(ctx.config, task.length, parent, blocks);
  let bytesRead = 0;
  const corrupt: number[] = [];
  // The parent's blobs are opened when first needed and let go after their last use,
  // so a worker holds a few superblocks' worth of them, not the whole region's.
  const given = new Map(task.parentBlobs.map((blob) => [blob.index, blob]));
  // releaseAfter[n]: the blobs whose last use is step n, found in one pass over the plan.
  const lastUse = new Map<number, number>();
  for (const [n, step] of steps.entries()) {
    for (const [from, to] of step.parentPieces) {
      for (const slice of parentSlices(parent!, from, to)) lastUse.set(slice.blob, n);
    }
  }
  const releaseAfter = new Map<number, number[]>();
  for (const [blob, n] of lastUse) {
    const list = releaseAfter.get(n);
    if (list) list.push(blob);
    else releaseAfter.set(n, [blob]);
  }
  const opened = new Map<number, Buffer>();
  const plainOf = (index: number): Buffer | undefined => {
    const known = opened.get(index);
    if (known !== undefined) return known;
    const blob = given.get(index);
    const id = parent?.blobs[index];
    if (blob === undefined || id === undefined) return undefined;
    const result = openBlob(ctx.encryptionKey, ctx.hash, { ...blob, id }, blob.sealed);
    if (!result.ok) {
      throw new CorruptDataError(
        `blob ${id.toString('hex').slice(0, 16)} of the parent of ${task.path}: ${result.reason}`,
      );
    }
    given.delete(index);
    opened.set(index, result.plain);
    bytesRead += result.plain.length;
    return result.plain;
  };
  const region = new RegionMapBuilder(ctx, parent, task.length);
  const bytes = scratch(superblockBytes);
  const fd = count > 0 ? openForRead(task.path) : undefined;
  try {
    for (const [n, step] of steps.entries()) {
      if (step.keep) {
        region.keep(step.superblock, step.end);
        continue;
      }
      const start = step.superblock * superblockBytes;
      const superblock = bytes.subarray(0, step.end - start);
      superblock.fill(0);
      for (const [from, to] of step.parentPieces) {
        for (const slice of parentSlices(parent!, from, to)) {
          const plain = plainOf(slice.blob);
          if (plain === undefined || slice.offset + slice.length > plain.length) {
            throw new RangeError(`blob ${slice.blob} of the parent's map was not given or is short`);
          }
          plain.copy(superblock, slice.at - start, slice.offset, slice.offset + slice.length);
        }
      }
      if (step.to > step.from && 'at' in task.pages) {
        const pages = Buffer.allocUnsafe((step.to - step.from) * pageSize);
        const n = readFully(fd!, pages, task.pages.at + step.from * pageSize);
        if (n !== pages.length) throw new RangeError(`the new pages of ${task.path} end early`);
        bytesRead += n;
        for (let i = step.from; i < step.to; i++) {
          const at = blocks.at(i) * pageSize - start;
          pages.copy(superblock, at, (i - step.from) * pageSize, (i - step.from + 1) * pageSize);
        }
      } else if (step.to > step.from && 'regionAt' in task.pages) {
        const { regionAt, check } = task.pages;
        for (const [from, to] of runs(blocks, step.from, step.to)) {
          const at = from * pageSize - start;
          const pages = superblock.subarray(at, at + (to - from) * pageSize);
          // A live file: what lies past its end now (truncated since it was listed) stays
          // zeros, as the truncation is in the WAL that the backup replays.
          const n = readFully(fd!, pages, regionAt + from * pageSize);
          pages.fill(0, n);
          bytesRead += n;
          const whole = n - (n % pageSize);
          if (check !== undefined && whole > 0) {
            corrupt.push(
              ...checkPages(
                fd!,
                pages.subarray(0, whole),
                regionAt + from * pageSize,
                regionAt + from * pageSize,
                check,
              ),
            );
          }
        }
      }
      await region.add(step.superblock, superblock);
      for (const blob of releaseAfter.get(n) ?? []) opened.delete(blob);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const map = await region.finish(task.parentMapId);
  return { ...map, bytesRead, ...(corrupt.length > 0 ? { corrupt } : {}) };
}

/** The runs of consecutive block numbers among `blocks` from index `from` to `to`, as [first, past the last). */
function* runs(
  blocks: { readonly at: (i: number) => number },
  from: number,
  to: number,
): Generator<[number, number]> {
  let first = blocks.at(from);
  let next = first + 1;
  for (let i = from + 1; i < to; i++) {
    const block = blocks.at(i);
    if (block === next) {
      next++;
      continue;
    }
    yield [first, next];
    first = block;
    next = block + 1;
  }
  yield [first, next];
}
