import { ID_BYTES, PAGE_HASH_BYTES } from '../crypto/hash.js';

const MAGIC = Buffer.from('PBPM');
const VERSION = 1;

/**
 * How one region of a relation file (up to `regionPages` pages) is stored: the hash
 * of each superblock (keyed, as blob ids are: the unit compared first), of each page
 * (plain BLAKE3 truncated to 16 bytes, see `pageHash`: compared when a superblock
 * differs), and runs of bytes, each a slice of one data blob. A page is found by the
 * run that covers it.
 */
export interface PageMap {
  /** Bytes of the file this region covers. */
  readonly length: number;
  readonly pageSize: number;
  readonly superblockPages: number;
  /** superblocks × 32 bytes. */
  readonly superblockHashes: Buffer;
  /** pages × 16 bytes. */
  readonly pageHashes: Buffer;
  readonly blobs: readonly Buffer[];
  /** runs × [start in region, length, blob index, offset in blob]. */
  readonly runs: Uint32Array;
}

/**
 * Plaintext: "PBPM", u8 version, u32le length, u32le page size, u32le superblock pages,
 * u32le superblocks S, u32le pages P, S × 32, P × 16, u32le blobs B, B × 32, u32le runs
 * R, R × 4 × u32le. Runs are sorted by start and cover the region without gaps.
 */
export function encodePageMap(map: PageMap): Buffer {
  const superblocks = map.superblockHashes.length / ID_BYTES;
  const pages = map.pageHashes.length / PAGE_HASH_BYTES;
  const runs = map.runs.length / 4;
  const size = 4 + 1 + 20 + map.superblockHashes.length + map.pageHashes.length + 4;
  const out = Buffer.allocUnsafe(size + map.blobs.length * ID_BYTES + 4 + runs * 16);
  MAGIC.copy(out, 0);
  out.writeUInt8(VERSION, 4);
  let at = out.writeUInt32LE(map.length, 5);
  at = out.writeUInt32LE(map.pageSize, at);
  at = out.writeUInt32LE(map.superblockPages, at);
  at = out.writeUInt32LE(superblocks, at);
  at = out.writeUInt32LE(pages, at);
  at += map.superblockHashes.copy(out, at);
  at += map.pageHashes.copy(out, at);
  at = out.writeUInt32LE(map.blobs.length, at);
  for (const blob of map.blobs) at += blob.copy(out, at);
  at = out.writeUInt32LE(runs, at);
  for (let i = 0; i < map.runs.length; i++) at = out.writeUInt32LE(map.runs[i]!, at);
  return out;
}

export function decodePageMap(plain: Buffer): PageMap {
  if (plain.length < 25 || !plain.subarray(0, 4).equals(MAGIC) || plain.readUInt8(4) !== VERSION) {
    throw new RangeError('not a page map');
  }
  let at = 5;
  const u32 = () => {
    const value = plain.readUInt32LE(at);
    at += 4;
    return value;
  };
  const length = u32();
  const pageSize = u32();
  const superblockPages = u32();
  const superblocks = u32();
  const pages = u32();
  const take = (bytes: number) => {
    const slice = plain.subarray(at, at + bytes);
    at += bytes;
    return slice;
  };
  const superblockHashes = take(superblocks * ID_BYTES);
  const pageHashes = take(pages * PAGE_HASH_BYTES);
  const blobCount = u32();
  const blobs: Buffer[] = [];
  for (let i = 0; i < blobCount; i++) blobs.push(take(ID_BYTES));
  const runCount = u32();
  const runs = new Uint32Array(runCount * 4);
  for (let i = 0; i < runs.length; i++) runs[i] = u32();
  if (at !== plain.length || pageHashes.length !== pages * PAGE_HASH_BYTES) {
    throw new RangeError('malformed page map');
  }
  return { length, pageSize, superblockPages, superblockHashes, pageHashes, blobs, runs };
}

/** Index of the run covering byte `offset` of a region (runs are sorted, gapless, from 0). */
export function runAt(runs: Uint32Array, offset: number): number {
  let lo = 0;
  let hi = runs.length / 4 - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (runs[mid * 4]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
