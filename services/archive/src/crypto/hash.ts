import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';

/** Blob ids, superblock hashes and file hashes: keyed BLAKE3, 32 bytes. */
export const ID_BYTES = 32;
/** Page hashes are truncated: they are only compared with the page at the same offset. */
export const PAGE_HASH_BYTES = 16;

/**
 * Keyed BLAKE3 under the archive's id key, so ids stored in the archive do not reveal
 * the hash of a known plaintext. One hasher is reused (reset per call): creating one
 * per 8 KiB page would cost more than hashing it.
 */
export class KeyedHash {
  private readonly hasher: Blake3Hasher;

  constructor(key: Buffer) {
    this.hasher = Blake3Hasher.newKeyed(key);
  }

  digest(data: Uint8Array): Buffer {
    this.hasher.reset();
    this.hasher.update(data);
    return this.hasher.digestBuffer();
  }

  /** The hash of several buffers as if concatenated. */
  digestParts(parts: readonly Uint8Array[]): Buffer {
    this.hasher.reset();
    for (const part of parts) this.hasher.update(part);
    return this.hasher.digestBuffer();
  }
}

/**
 * Page hashes: unkeyed BLAKE3 truncated to 16 bytes. They are only stored inside sealed
 * page maps and only compared with the page at the same offset, so a key adds nothing,
 * and the one-shot call is cheaper than resetting a keyed hasher per 8 KiB page.
 */
export function pageHash(data: Uint8Array): Buffer {
  return blake3(data);
}

/** Unkeyed BLAKE3, for names of objects (packs, snapshots) that anyone may check. */
export function plainHash(data: Uint8Array): Buffer {
  return blake3(data);
}
