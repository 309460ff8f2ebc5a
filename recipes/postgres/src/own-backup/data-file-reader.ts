import { type FileHandle, open } from 'node:fs/promises';
import { checksumsOfPages, PAGE_SIZE, PAGES_PER_SEGMENT, pageIsSound } from '@pullback/archive';

/** Bytes read at a time: 128 pages. */
const READ_BYTES = 128 * PAGE_SIZE;

/** How a relation file's pages are checked while they are read. */
export interface PageCheck {
  /** The file's segment number (`.1` is 1): block numbers continue across segments. */
  readonly segment: number;
  /** Pages changed after the backup started are replayed from WAL: a torn one is not corruption. */
  readonly startLsn: bigint;
  /** Told of each page whose checksum is wrong, by its block number in the relation. */
  readonly onCorrupt: (block: number) => void;
}

/** A file opened for copying, with the size it had when opened. */
export interface OpenDataFile {
  readonly handle: FileHandle;
  readonly size: number;
}

/** Opens a file of the data directory, or undefined when it is gone (dropped since it was listed). */
export async function openDataFile(absolute: string): Promise<OpenDataFile | undefined> {
  const handle = await open(absolute, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (handle === undefined) return undefined;
  const { size } = await handle.stat();
  return { handle, size };
}

/**
 * The file's first `size` bytes, in pieces of at most READ_BYTES, each in a buffer of
 * its own. A file that shrank while being read is padded with zeros (pg_basebackup
 * does the same: the truncation is in the WAL the backup replays). With `check`, each
 * initialised page's checksum is verified; a wrong one is read once more (a write may
 * have torn it) and is told to `check.onCorrupt` only if it is still wrong and older
 * than the backup.
 */
export async function* readDataFile(
  file: OpenDataFile,
  size: number,
  check?: PageCheck,
): AsyncGenerator<Buffer> {
  let offset = 0;
  while (offset < size) {
    const length = Math.min(READ_BYTES, size - offset);
    // Its own ArrayBuffer: pages are read as aligned 32-bit words, and the consumer keeps it.
    const buffer = Buffer.allocUnsafeSlow(length);
    const { bytesRead } = await file.handle.read(buffer, 0, length, offset);
    if (bytesRead < length) buffer.fill(0, bytesRead);
    if (check !== undefined) await checkPages(file.handle, buffer, offset, check);
    yield buffer;
    offset += length;
    if (bytesRead < length) {
      // The rest is gone: zeros, without reading further.
      while (offset < size) {
        const rest = Math.min(READ_BYTES, size - offset);
        yield Buffer.alloc(rest);
        offset += rest;
      }
    }
  }
}

/** Checks the pages in `buffer`, read from the file at `offset` (see readDataFile). */
export async function checkPages(
  handle: FileHandle,
  buffer: Buffer,
  offset: number,
  check: PageCheck,
): Promise<void> {
  const first = check.segment * PAGES_PER_SEGMENT + offset / PAGE_SIZE;
  const sums = checksumsOfPages(buffer, first);
  for (let index = 0; index < sums.length; index++) {
    // pd_upper 0: never initialised, no checksum; else pd_checksum must match.
    const at = index * PAGE_SIZE;
    if (buffer.readUInt16LE(at + 14) === 0 || buffer.readUInt16LE(at + 8) === sums[index]) continue;
    const words = new Uint32Array(buffer.buffer, buffer.byteOffset + at, PAGE_SIZE / 4);
    const block = first + index;
    if (pageIsSound(words, block, check.startLsn)) continue;
    const again = Buffer.allocUnsafeSlow(PAGE_SIZE);
    const { bytesRead } = await handle.read(again, 0, PAGE_SIZE, offset + index * PAGE_SIZE);
    // Gone since (truncated): the truncation is in the WAL the backup replays.
    if (bytesRead < PAGE_SIZE) continue;
    again.copy(buffer, index * PAGE_SIZE);
    if (pageIsSound(new Uint32Array(again.buffer, 0, PAGE_SIZE / 4), block, check.startLsn)) continue;
    check.onCorrupt(block);
  }
}
