/*
 * An incremental artifact (docs/exports.md, "The agent's own export"): its
 * tars hold the directories, links and files that changed as any artifact does, and
 * under INCREMENTAL_DIR what the pull needs to complete it against its parent:
 *
 *   .pullback-incremental/incremental.json   IncrementalDescription
 *   .pullback-incremental/pages/<path>        a page delta of file <path>
 *
 * A page delta: "PBPD", u8 version 1, u32le page size, u64le the file's size, u32le
 * count N, N × u32le block numbers (in the file, increasing), then those N pages. Every
 * other page of the file is the parent's page at the same place.
 */

export const INCREMENTAL_DIR = '.pullback-incremental';
export const INCREMENTAL_DESCRIPTION = `${INCREMENTAL_DIR}/incremental.json`;
export const PAGE_DELTA_DIR = `${INCREMENTAL_DIR}/pages`;

/** What an incremental artifact says of its parent, and the files the parent has as they are now. */
export interface IncrementalDescription {
  /** The export id of the parent: the snapshot the pull completes this one against. */
  readonly parent: string;
  /** Files (paths in the tree) that are exactly the parent's. */
  readonly unchanged: readonly string[];
}

const MAGIC = Buffer.from('PBPD');
const VERSION = 1;
/** Bytes before the block numbers. */
export const PAGE_DELTA_HEAD = 21;

export interface PageDeltaHeader {
  readonly pageSize: number;
  readonly fileSize: number;
  /** Block numbers, increasing. */
  readonly blocks: Uint32Array;
}

export function encodePageDeltaHeader(header: PageDeltaHeader): Buffer {
  const out = Buffer.alloc(PAGE_DELTA_HEAD + header.blocks.length * 4);
  MAGIC.copy(out, 0);
  out.writeUInt8(VERSION, 4);
  out.writeUInt32LE(header.pageSize, 5);
  out.writeBigUInt64LE(BigInt(header.fileSize), 9);
  out.writeUInt32LE(header.blocks.length, 17);
  for (let i = 0; i < header.blocks.length; i++)
    out.writeUInt32LE(header.blocks[i]!, PAGE_DELTA_HEAD + i * 4);
  return out;
}

/** The size of a page delta with `count` pages. */
export function pageDeltaSize(pageSize: number, count: number): number {
  return PAGE_DELTA_HEAD + count * 4 + count * pageSize;
}

/** The count a page delta's first PAGE_DELTA_HEAD bytes announce, and its sizes; throws a RangeError on anything else. */
export function decodePageDeltaHead(head: Buffer): { pageSize: number; fileSize: number; count: number } {
  if (head.length < PAGE_DELTA_HEAD || !head.subarray(0, 4).equals(MAGIC) || head.readUInt8(4) !== VERSION) {
    throw new RangeError('not a page delta');
  }
  const fileSize = head.readBigUInt64LE(9);
  if (fileSize > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('a page delta of an impossible size');
  return { pageSize: head.readUInt32LE(5), fileSize: Number(fileSize), count: head.readUInt32LE(17) };
}
