import { seal, unseal } from '../crypto/seal.js';
import { type BlobEntry, ENTRY_BYTES, readEntry, writeEntry } from './blob-entry.js';

const MAGIC = Buffer.from('PBPK');
const VERSION = 1;
export const HEADER_AAD = Buffer.from('pullback pack header');
/** The pack's last 4 bytes: the sealed header's length, u32le. */
export const TRAILER_BYTES = 4;

/**
 * A pack is `blob₁ ‖ … ‖ blobₙ ‖ seal(header) ‖ u32le(len(seal(header)))`: blobs can be
 * written as they come, and a reader finds the header with one ranged load of the tail.
 * Header plaintext: "PBPK", u8 version, u32le count, count × entry.
 */
export function encodePackTrailer(key: Buffer, entries: readonly BlobEntry[]): Buffer {
  const plain = Buffer.allocUnsafe(4 + 1 + 4 + entries.length * ENTRY_BYTES);
  MAGIC.copy(plain, 0);
  plain.writeUInt8(VERSION, 4);
  plain.writeUInt32LE(entries.length, 5);
  let at = 9;
  for (const entry of entries) at = writeEntry(plain, at, entry);
  const sealed = seal(key, plain, HEADER_AAD);
  const trailer = Buffer.allocUnsafe(sealed.length + TRAILER_BYTES);
  sealed.copy(trailer, 0);
  trailer.writeUInt32LE(sealed.length, sealed.length);
  return trailer;
}

/** Decodes a sealed header; `undefined` when it fails authentication or is malformed. */
export function decodePackHeader(key: Buffer, sealed: Buffer): BlobEntry[] | undefined {
  const plain = unseal(key, sealed, HEADER_AAD);
  if (plain === undefined || plain.length < 9 || !plain.subarray(0, 4).equals(MAGIC)) return undefined;
  if (plain.readUInt8(4) !== VERSION) return undefined;
  const count = plain.readUInt32LE(5);
  if (plain.length !== 9 + count * ENTRY_BYTES) return undefined;
  const entries: BlobEntry[] = [];
  for (let i = 0; i < count; i++) entries.push(readEntry(plain, 9 + i * ENTRY_BYTES));
  return entries;
}
