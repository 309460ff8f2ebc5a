import { PAGE_SIZE, pageIsSound } from '../chunking/page-checksum.js';
import { checksumsOfPages } from '../chunking/page-checksum-batch.js';
import { readFully } from '../fs/read-range.js';

/** A relation file's pages to check against PostgreSQL's data checksums as a task reads them. */
export interface PageCheckTask {
  /** The block number, in its relation, of the file's first page: the segment number times the pages of a segment. */
  readonly firstBlock: number;
  /** The backup's start: a page changed since is replayed from WAL, so a torn read of it is no corruption. */
  readonly startLsn: bigint;
}

/** One page's words when it does not sit at a 4-byte boundary of its buffer. */
const aligned = new Uint32Array(PAGE_SIZE / 4);

/**
 * Checks the whole pages in `bytes`, read from `fd` at `position` (the file's offset
 * `offset`, a multiple of PAGE_SIZE). A page whose checksum is wrong (and that was
 * initialised: pd_upper is not 0) is read once more (a write may have torn it) and its
 * new bytes replace it in `bytes`; the block numbers of pages still wrong and older
 * than the backup are returned. A page gone since (the file truncated) is no
 * corruption: the truncation is in the WAL.
 */
export function checkPages(
  fd: number,
  bytes: Buffer,
  position: number,
  offset: number,
  check: PageCheckTask,
): number[] {
  const corrupt: number[] = [];
  const first = check.firstBlock + offset / PAGE_SIZE;
  const sums = checksumsOfPages(bytes, first);
  for (let index = 0; index < sums.length; index++) {
    const at = index * PAGE_SIZE;
    // pd_upper 0: never initialised, no checksum; else pd_checksum must match.
    if (bytes.readUInt16LE(at + 14) === 0 || bytes.readUInt16LE(at + 8) === sums[index]) continue;
    const block = first + index;
    if (pageIsSound(wordsOf(bytes, at), block, check.startLsn)) continue;
    const page = bytes.subarray(at, at + PAGE_SIZE);
    const again = Buffer.allocUnsafeSlow(PAGE_SIZE);
    if (readFully(fd, again, position + at) < PAGE_SIZE) continue;
    again.copy(page);
    if (!pageIsSound(wordsOf(page, 0), block, check.startLsn)) corrupt.push(block);
  }
  return corrupt;
}

function wordsOf(bytes: Buffer, at: number): Uint32Array {
  const byteOffset = bytes.byteOffset + at;
  if (byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, byteOffset, PAGE_SIZE / 4);
  Buffer.from(aligned.buffer).set(bytes.subarray(at, at + PAGE_SIZE));
  return aligned;
}
