import { ID_BYTES } from '../crypto/hash.js';

/**
 * Blob ids (32 bytes each) sorted and without repeats, in memory shared with worker
 * threads: one list handed to every task of a large file is neither copied per task
 * nor detached by moving it, and a task looks ids up by binary search without first
 * building a set of them.
 */
export function sharedSortedIds(ids: readonly Buffer[]): Buffer {
  const sorted = [...ids].sort(Buffer.compare);
  const unique = sorted.filter((id, i) => i === 0 || !id.equals(sorted[i - 1]!));
  const out = Buffer.from(new SharedArrayBuffer(unique.length * ID_BYTES));
  for (const [i, id] of unique.entries()) id.copy(out, i * ID_BYTES, 0, ID_BYTES);
  return out;
}

/** Whether `id` is in a list made by `sharedSortedIds`. */
export function hasSortedId(sorted: Buffer, id: Buffer): boolean {
  let low = 0;
  let high = sorted.length / ID_BYTES;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const order = id.compare(sorted, middle * ID_BYTES, (middle + 1) * ID_BYTES);
    if (order === 0) return true;
    if (order > 0) low = middle + 1;
    else high = middle;
  }
  return false;
}
