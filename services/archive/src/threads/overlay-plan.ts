import { type PageMap, runAt } from '../snapshot/page-map.js';

/** One superblock of a region whose new pages are laid over the parent's (`planOverlay`). */
export interface OverlayStep {
  readonly superblock: number;
  /** Where it ends in the region (it starts at `superblock` × superblock bytes). */
  readonly end: number;
  /** Its new pages: the region's new pages `[from, to)`. */
  readonly from: number;
  readonly to: number;
  /**
   * True when it is the parent's superblock, to the same end, with no new page: the
   * parent's hashes and runs are kept and nothing is read.
   */
  readonly keep: boolean;
  /** The bytes `[start, end)` of the region taken from the parent: its pages the delta lacks, cut at the parent's end. */
  readonly parentPieces: readonly (readonly [start: number, end: number])[];
}

/**
 * The superblocks of a region of `length` bytes whose new pages (`blocks`, numbered in
 * the region, increasing, each a whole page inside `length`) are laid over the parent's
 * map of the same region: what each takes from the parent. The same plan tells the
 * main thread which parent blobs to fetch and the worker how to assemble the bytes.
 * Throws a RangeError when a page is neither new nor the parent's (past its end).
 */
export function planOverlay(
  layout: { readonly pageSize: number; readonly superblockPages: number },
  length: number,
  parent: PageMap | undefined,
  blocks: { readonly length: number; at(index: number): number },
): OverlayStep[] {
  const { pageSize, superblockPages } = layout;
  const superblockBytes = pageSize * superblockPages;
  const parentLength = parent?.length ?? 0;
  const parentSuperblocks = parent ? Math.ceil(Math.ceil(parent.length / pageSize) / superblockPages) : 0;
  const steps: OverlayStep[] = [];
  let next = 0;
  for (let s = 0; s * superblockBytes < length; s++) {
    const start = s * superblockBytes;
    const end = Math.min(length, start + superblockBytes);
    const lastPage = Math.ceil(end / pageSize);
    const from = next;
    while (next < blocks.length && blocks.at(next) < lastPage) {
      const block = blocks.at(next);
      if (
        block * pageSize < start ||
        (block + 1) * pageSize > end ||
        (next > from && block <= blocks.at(next - 1))
      ) {
        throw new RangeError(`new page ${block} is out of order or past the region's end`);
      }
      next++;
    }
    const keep =
      next === from &&
      parent !== undefined &&
      s < parentSuperblocks &&
      Math.min(parentLength, start + superblockBytes) === end;
    const parentPieces: [number, number][] = [];
    if (!keep) {
      let b = from;
      for (let p = start / pageSize; p < lastPage; p++) {
        if (b < next && blocks.at(b) === p) {
          b++;
          continue;
        }
        const pageStart = p * pageSize;
        if (pageStart >= parentLength) {
          throw new RangeError(`page ${p} of the region is past the parent's end and not new`);
        }
        const pieceEnd = Math.min(end, pageStart + pageSize, parentLength);
        const last = parentPieces.at(-1);
        if (last !== undefined && last[1] === pageStart) last[1] = pieceEnd;
        else parentPieces.push([pageStart, pieceEnd]);
      }
    }
    steps.push({ superblock: s, end, from, to: next, keep, parentPieces });
  }
  if (next !== blocks.length) throw new RangeError(`new page ${blocks.at(next)} is past the region's end`);
  return steps;
}

/** The slices of the parent's blobs that hold bytes `[start, end)` of its region, in order. */
export function* parentSlices(
  parent: PageMap,
  start: number,
  end: number,
): Generator<{ blob: number; offset: number; length: number; at: number }> {
  const runs = parent.runs;
  for (let r = runAt(runs, start); r < runs.length / 4 && runs[r * 4]! < end; r++) {
    const runStart = runs[r * 4]!;
    const from = Math.max(start, runStart);
    const to = Math.min(end, runStart + runs[r * 4 + 1]!);
    if (to <= from) continue;
    yield {
      blob: runs[r * 4 + 2]!,
      offset: runs[r * 4 + 3]! + (from - runStart),
      length: to - from,
      at: from,
    };
  }
}
