import type { BlobLocation } from '../blob-index/blob-location.js';

/** One ranged pack read covers at most this much, skipping gaps up to GAP bytes. */
const RANGE_BYTES = 4 * 1024 * 1024;
const GAP_BYTES = 256 * 1024;
/**
 * ...and opens at most this much plaintext: well-compressed data (PostgreSQL pages
 * shrink 30x) would otherwise make a few huge tasks that leave a worker idle at the
 * end of each batch.
 */
const RANGE_PLAIN_BYTES = 16 * 1024 * 1024;

/** Groups blob locations into ranged reads: same pack, in offset order, small gaps skipped. */
export function planRanges(locations: BlobLocation[]): BlobLocation[][] {
  locations.sort((a, b) => (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : a.offset - b.offset));
  const ranges: BlobLocation[][] = [];
  let current: BlobLocation[] = [];
  let plainBytes = 0;
  for (const location of locations) {
    const first = current[0];
    const last = current[current.length - 1];
    if (
      first &&
      last &&
      (location.pack !== first.pack ||
        location.offset - (last.offset + last.length) > GAP_BYTES ||
        location.offset + location.length - first.offset > RANGE_BYTES ||
        plainBytes + location.plainLength > RANGE_PLAIN_BYTES)
    ) {
      ranges.push(current);
      current = [];
      plainBytes = 0;
    }
    current.push(location);
    plainBytes += location.plainLength;
  }
  if (current.length > 0) ranges.push(current);
  return ranges;
}
