import { writeSync } from 'node:fs';

/**
 * Holes: a restore leaves the all-zero blocks of a new file unwritten (the file is
 * created at its size with ftruncate, so they read as zeros and take no disk), as
 * `cp --sparse` and restic do. Blocks are aligned to file offsets; 32 KiB keeps the
 * check at one native call per 32 KiB (a few ms per GB) while any hole of 64 KiB or
 * more stays a hole.
 */
const SPARSE_BLOCK = 32 * 1024;

/** Whether `buffer[start, end)` is all zeros (compared with itself shifted by one: no zero buffer needed). */
export function isAllZero(buffer: Buffer, start = 0, end = buffer.length): boolean {
  if (start >= end) return true;
  return buffer[start] === 0 && buffer.compare(buffer, start, end - 1, start + 1, end) === 0;
}

/** Writes `length` bytes of `data` from `from` at file offset `at`, whole. */
export function writeFully(fd: number, data: Buffer, from: number, length: number, at: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, data, from + done, length - done, at + done);
}

/**
 * Like `writeFully` into a file whose bytes there are zeros already, skipping the
 * blocks that are all zeros, so they stay holes.
 */
export function writeSkippingZeros(fd: number, data: Buffer, from: number, length: number, at: number): void {
  let run = -1;
  for (let i = 0; i < length; ) {
    const end = Math.min(length, (Math.floor((at + i) / SPARSE_BLOCK) + 1) * SPARSE_BLOCK - at);
    if (isAllZero(data, from + i, from + end)) {
      if (run >= 0) writeFully(fd, data, from + run, i - run, at + run);
      run = -1;
    } else if (run < 0) {
      run = i;
    }
    i = end;
  }
  if (run >= 0) writeFully(fd, data, from + run, length - run, at + run);
}
