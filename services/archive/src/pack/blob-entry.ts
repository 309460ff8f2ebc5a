import { ID_BYTES } from '../crypto/hash.js';

/** What a blob holds; metadata (trees, maps) and data go to separate packs. */
export enum BlobType {
  Tree = 1,
  Map = 2,
  Data = 3,
}

export enum Compression {
  None = 0,
  /** lz4 blocks of 128 KiB pieces: see `compressPieces`. */
  Lz4 = 1,
  /** One zstd frame: see `zstdCompress`. */
  Zstd = 2,
}

/** Where one blob sits in one pack, as pack headers and index files record it. */
export interface BlobEntry {
  readonly type: BlobType;
  readonly compression: Compression;
  readonly id: Buffer;
  /** Byte offset of the sealed blob in its pack. */
  readonly offset: number;
  /** Length of the sealed blob (nonce, ciphertext, tag). */
  readonly length: number;
  /** Length of the blob's plaintext after decompression. */
  readonly plainLength: number;
}

/** A sealed blob ready to be appended to a pack. */
export interface SealedBlob {
  readonly type: BlobType;
  readonly compression: Compression;
  readonly id: Buffer;
  readonly sealed: Buffer;
  readonly plainLength: number;
}

/** type u8, compression u8, id 32, offset u32, length u32, plain length u32. */
export const ENTRY_BYTES = 2 + ID_BYTES + 12;

export function writeEntry(out: Buffer, at: number, entry: BlobEntry): number {
  out.writeUInt8(entry.type, at);
  out.writeUInt8(entry.compression, at + 1);
  entry.id.copy(out, at + 2);
  out.writeUInt32LE(entry.offset, at + 2 + ID_BYTES);
  out.writeUInt32LE(entry.length, at + 6 + ID_BYTES);
  out.writeUInt32LE(entry.plainLength, at + 10 + ID_BYTES);
  return at + ENTRY_BYTES;
}

/** Throws RangeError unless the entry at `at` has a known type and compression (and is whole). */
export function checkEntry(input: Buffer, at: number): void {
  if (at + ENTRY_BYTES > input.length) throw new RangeError('entry past the end');
  const type = input.readUInt8(at);
  const compression = input.readUInt8(at + 1);
  if (!(type in BlobType) || !(compression in Compression)) {
    throw new RangeError(`unknown blob type ${type} or compression ${compression}`);
  }
}

export function readEntry(input: Buffer, at: number): BlobEntry {
  checkEntry(input, at);
  const type = input.readUInt8(at);
  const compression = input.readUInt8(at + 1);
  return {
    type,
    compression,
    id: Buffer.from(input.subarray(at + 2, at + 2 + ID_BYTES)),
    offset: input.readUInt32LE(at + 2 + ID_BYTES),
    length: input.readUInt32LE(at + 6 + ID_BYTES),
    plainLength: input.readUInt32LE(at + 10 + ID_BYTES),
  };
}
