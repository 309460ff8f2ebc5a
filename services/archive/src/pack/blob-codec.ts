import { compressSync } from 'lz4-napi';
import type { KeyedHash } from '../crypto/hash.js';
import { seal, unseal } from '../crypto/seal.js';
import { ArchiveError } from '../errors.js';
import { type BlobEntry, type BlobType, Compression, type SealedBlob } from './blob-entry.js';
import { compressPieces, uncompressPieces } from './lz4-pieces.js';
import { zstdCompress, zstdDecompress, zstdDecompressInto, zstdFrameHasChecksum } from './zstd-codec.js';

/**
 * Compresses (lz4, or stored as is when that does not shrink it) and seals a blob
 * whose id is already known. The id is the AAD, so the sealed bytes only open as
 * that blob.
 */
export async function sealBlobWithId(
  encryptionKey: Buffer,
  type: BlobType,
  id: Buffer,
  plain: Buffer,
  compress: Compression = Compression.Zstd,
): Promise<SealedBlob> {
  let compression = Compression.None;
  let body = plain;
  if (compress !== Compression.None && plain.length > 64 && worthCompressing(plain)) {
    const packed = compress === Compression.Zstd ? zstdCompress(plain) : compressPieces(plain);
    if (packed.length < plain.length) {
      compression = compress;
      body = packed;
    }
  }
  return { type, compression, id, sealed: seal(encryptionKey, body, id), plainLength: plain.length };
}

/** The compression an archive's config asks for. */
export function configuredCompression(name: 'zstd' | 'lz4'): Compression {
  return name === 'lz4' ? Compression.Lz4 : Compression.Zstd;
}

/** Large blobs are first sampled: this much, from the middle. */
const SAMPLE_BYTES = 64 * 1024;

/**
 * Whether a large blob is worth compressing, judged on a sample: compressing random
 * data (already compressed or encrypted files) costs time for nothing.
 */
function worthCompressing(plain: Buffer): boolean {
  if (plain.length <= 4 * SAMPLE_BYTES) return true;
  const start = Math.floor((plain.length - SAMPLE_BYTES) / 2);
  const sample = plain.subarray(start, start + SAMPLE_BYTES);
  return compressSync(sample).length < SAMPLE_BYTES * 0.95;
}

/** Names a blob by the keyed hash of its plaintext, then compresses and seals it. */
export function sealBlob(
  encryptionKey: Buffer,
  hash: KeyedHash,
  type: BlobType,
  plain: Buffer,
  compress: Compression = Compression.Zstd,
): Promise<SealedBlob> {
  return sealBlobWithId(encryptionKey, type, hash.digest(plain), plain, compress);
}

export type OpenBlobResult = { ok: true; plain: Buffer } | { ok: false; reason: string };

export interface OpenBlobOptions {
  /**
   * At least `plainLength` long: zstd blobs are decompressed into it and the plaintext
   * returned is a view of it, valid until `into` is used again.
   */
  readonly into?: Buffer;
  /**
   * Restore: skip recomputing the id of a zstd blob whose frame carries zstd's content
   * checksum. The seal (its AAD is the id) proves the compressed bytes are the ones
   * written for this id, and the checksum that they decompress to what the writer
   * compressed; only a writer that named one plaintext and compressed another would
   * go unnoticed, which verify --read-data, which always recomputes, catches.
   */
  readonly trustFrameChecksum?: boolean;
}

/**
 * Opens a sealed blob: authenticates it under its id, decompresses it, and checks the
 * keyed hash of the result against the id (see `trustFrameChecksum`), so corrupt data
 * is never returned.
 */
export function openBlob(
  encryptionKey: Buffer,
  hash: KeyedHash,
  entry: Pick<BlobEntry, 'id' | 'compression' | 'plainLength'>,
  sealed: Buffer,
  options: OpenBlobOptions = {},
): OpenBlobResult {
  const body = unseal(encryptionKey, sealed, entry.id);
  if (body === undefined) return { ok: false, reason: 'authentication failed' };
  let plain: Buffer;
  if (entry.compression === Compression.Lz4) {
    try {
      plain = uncompressPieces(body, entry.plainLength);
    } catch {
      return { ok: false, reason: 'cannot decompress' };
    }
  } else if (entry.compression === Compression.Zstd) {
    try {
      plain =
        options.into === undefined
          ? zstdDecompress(body, entry.plainLength)
          : zstdDecompressInto(body, entry.plainLength, options.into);
    } catch (error) {
      // zstd missing here is not the data's fault: say so rather than call it corrupt.
      if (error instanceof ArchiveError) throw error;
      return { ok: false, reason: 'cannot decompress' };
    }
  } else {
    plain = body;
  }
  if (plain.length !== entry.plainLength) return { ok: false, reason: 'wrong length' };
  const checked =
    options.trustFrameChecksum === true &&
    entry.compression === Compression.Zstd &&
    zstdFrameHasChecksum(body);
  if (!checked && !hash.digest(plain).equals(entry.id)) {
    return { ok: false, reason: 'content does not match its id' };
  }
  return { ok: true, plain };
}
