import { ID_BYTES } from '../crypto/hash.js';
import { seal, unseal } from '../crypto/seal.js';
import {
  type BlobEntry,
  BlobType,
  checkEntry,
  ENTRY_BYTES,
  readEntry,
  writeEntry,
} from '../pack/blob-entry.js';
import { type BlobLocation, idKey } from './blob-location.js';

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

/**
 * An opened index object. Its entries are decoded when first asked for: a restore
 * looks up a few thousand ids per batch in indexes of millions of entries, and
 * turning each into an object would cost more than the lookups.
 */
export class IndexObject implements IndexFile {
  private decoded: IndexedPack[] | undefined;

  constructor(
    readonly supersedes: readonly string[],
    private readonly plain: Buffer,
    /** Where each pack's entries start, after its id and count. */
    private readonly packStarts: readonly {
      readonly id: string;
      readonly at: number;
      readonly count: number;
    }[],
  ) {}

  /** The plaintext the entries are read from: entry `i` of a pack is at its extent's `at + i * ENTRY_BYTES`. */
  get bytes(): Buffer {
    return this.plain;
  }

  /** The packs listed, with where each one's entries start in `bytes`. */
  get packExtents(): readonly { readonly id: string; readonly at: number; readonly count: number }[] {
    return this.packStarts;
  }

  get packs(): readonly IndexedPack[] {
    this.decoded ??= this.packStarts.map(({ id, at, count }) => {
      const entries: BlobEntry[] = [];
      for (let i = 0; i < count; i++) entries.push(readEntry(this.plain, at + i * ENTRY_BYTES));
      return { id, entries };
    });
    return this.decoded;
  }

  /** The entries whose id, as an `idKey`, `wanted` holds; the others are not decoded. */
  find(wanted: { has(key: string): boolean }): Generator<BlobLocation> {
    return this.select((at) => wanted.has(this.plain.toString('latin1', at + 2, at + 2 + ID_BYTES)));
  }

  /** The entry at `at` in `bytes` (the start of an entry of one of `packExtents`), with its pack. */
  locationAt(at: number): BlobLocation {
    let low = 0;
    let high = this.packStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.packStarts[middle]!.at <= at) low = middle;
      else high = middle - 1;
    }
    const pack = this.packStarts[low];
    if (pack === undefined || at < pack.at || at >= pack.at + pack.count * ENTRY_BYTES) {
      throw new RangeError(`no entry of the index starts at ${at}`);
    }
    return { ...readEntry(this.plain, at), pack: pack.id };
  }

  /** The entries of metadata blobs (trees and maps). */
  metadata(): Generator<BlobLocation> {
    return this.select((at) => this.plain[at] !== BlobType.Data);
  }

  /** The entries `accept` takes, judged on their raw bytes (type at +0, id at +2). */
  private *select(accept: (at: number) => boolean): Generator<BlobLocation> {
    for (const { id, at, count } of this.packStarts) {
      for (let i = 0, entry = at; i < count; i++, entry += ENTRY_BYTES) {
        if (accept(entry)) yield { ...readEntry(this.plain, entry), pack: id };
      }
    }
  }
}

/** Opens and checks an index object; `undefined` when it fails authentication or is malformed. */
export function decodeIndex(key: Buffer, sealed: Buffer): IndexObject | undefined {
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
    const packStarts: { id: string; at: number; count: number }[] = [];
    for (let p = 0; p < packCount; p++) {
      const id = plain.toString('hex', at, at + ID_BYTES);
      at += ID_BYTES;
      const count = plain.readUInt32LE(at);
      at += 4;
      packStarts.push({ id, at, count });
      for (let i = 0; i < count; i++, at += ENTRY_BYTES) checkEntry(plain, at);
    }
    return at === plain.length ? new IndexObject(supersedes, plain, packStarts) : undefined;
  } catch {
    return undefined;
  }
}

/** Locations of the blobs whose `idKey` `ids` holds, from opened index objects. */
export function findBlobs(
  indexes: readonly IndexObject[],
  ids: { has(key: string): boolean },
): Map<string, BlobLocation> {
  const found = new Map<string, BlobLocation>();
  for (const index of indexes) {
    for (const location of index.find(ids)) found.set(idKey(location.id), location);
  }
  return found;
}
