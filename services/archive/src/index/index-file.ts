import { ID_BYTES } from '../crypto/hash.js';
import { seal, unseal } from '../crypto/seal.js';
import { type BlobEntry, ENTRY_BYTES, readEntry, writeEntry } from '../pack/blob-entry.js';

const MAGIC = Buffer.from('PBIX');
const VERSION = 1;
export const INDEX_AAD = Buffer.from('pullback index');

export interface IndexedPack {
  /** Pack id, hex. */
  readonly id: string;
  readonly entries: readonly BlobEntry[];
}

export interface IndexFile {
  /** Index objects (hex ids) whose content this one contains; written by prune. */
  readonly supersedes: readonly string[];
  readonly packs: readonly IndexedPack[];
}

/**
 * Plaintext: "PBIX", u8 version, u32le n, n × 32-byte superseded index id, u32le packs,
 * then per pack: 32-byte pack id, u32le blobs, blobs × entry (as in pack headers).
 */
export function encodeIndex(key: Buffer, index: IndexFile): Buffer {
  let size = 4 + 1 + 4 + index.supersedes.length * ID_BYTES + 4;
  for (const pack of index.packs) size += ID_BYTES + 4 + pack.entries.length * ENTRY_BYTES;
  const plain = Buffer.allocUnsafe(size);
  MAGIC.copy(plain, 0);
  plain.writeUInt8(VERSION, 4);
  let at = plain.writeUInt32LE(index.supersedes.length, 5);
  for (const id of index.supersedes) at += Buffer.from(id, 'hex').copy(plain, at);
  at = plain.writeUInt32LE(index.packs.length, at);
  for (const pack of index.packs) {
    at += Buffer.from(pack.id, 'hex').copy(plain, at);
    at = plain.writeUInt32LE(pack.entries.length, at);
    for (const entry of pack.entries) at = writeEntry(plain, at, entry);
  }
  return seal(key, plain, INDEX_AAD);
}

export function decodeIndex(key: Buffer, sealed: Buffer): IndexFile | undefined {
  const plain = unseal(key, sealed, INDEX_AAD);
  if (plain === undefined || plain.length < 13 || !plain.subarray(0, 4).equals(MAGIC)) return undefined;
  if (plain.readUInt8(4) !== VERSION) return undefined;
  try {
    let at = 5;
    const superseded = plain.readUInt32LE(at);
    at += 4;
    const supersedes: string[] = [];
    for (let i = 0; i < superseded; i++, at += ID_BYTES) {
      supersedes.push(plain.toString('hex', at, at + ID_BYTES));
    }
    const packCount = plain.readUInt32LE(at);
    at += 4;
    const packs: IndexedPack[] = [];
    for (let p = 0; p < packCount; p++) {
      const id = plain.toString('hex', at, at + ID_BYTES);
      at += ID_BYTES;
      const count = plain.readUInt32LE(at);
      at += 4;
      const entries: BlobEntry[] = [];
      for (let i = 0; i < count; i++, at += ENTRY_BYTES) entries.push(readEntry(plain, at));
      packs.push({ id, entries });
    }
    return at === plain.length ? { supersedes, packs } : undefined;
  } catch {
    return undefined;
  }
}
