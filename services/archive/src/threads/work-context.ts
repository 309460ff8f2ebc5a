import { GearChunker, gearTable } from '../chunking/gear-cdc.js';
import { KeyedHash } from '../crypto/hash.js';
import type { ArchiveKeys } from '../crypto/keys.js';
import { configuredCompression } from '../pack/blob-codec.js';
import type { Compression } from '../pack/blob-entry.js';
import type { ArchiveConfig } from '../repository/config.js';

/** What a worker needs to hash, cut, compress and seal: derived keys and the config. */
export interface WorkSetup {
  readonly encryptionKey: Buffer;
  readonly idKey: Buffer;
  readonly gearKey: Buffer;
  readonly config: ArchiveConfig;
}

/** The setup for an open archive's work: its derived keys and its config. */
export function workSetup(archive: {
  readonly keys: ArchiveKeys;
  readonly config: ArchiveConfig;
}): WorkSetup {
  return {
    encryptionKey: archive.keys.encryption,
    idKey: archive.keys.id,
    gearKey: archive.keys.gear,
    config: archive.config,
  };
}

export interface WorkContext {
  readonly encryptionKey: Buffer;
  /** How new data blobs are compressed (from the config). */
  readonly compression: Compression;
  readonly hash: KeyedHash;
  readonly chunker: GearChunker;
  readonly config: ArchiveConfig;
  /** Ids of all-zero chunks by length (holes, zeroed stretches): found without hashing them again. */
  readonly zeroChunkIds: Map<number, Buffer>;
}

export function workContext(setup: WorkSetup): WorkContext {
  const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    encryptionKey: asBuffer(setup.encryptionKey),
    compression: configuredCompression(setup.config.compression),
    hash: new KeyedHash(asBuffer(setup.idKey)),
    chunker: new GearChunker(gearTable(asBuffer(setup.gearKey)), setup.config.chunker),
    config: setup.config,
    zeroChunkIds: new Map(),
  };
}

const scratchBuffers = { read: Buffer.alloc(0), ahead: Buffer.alloc(0), plain: Buffer.alloc(0) };

/**
 * Buffers reused by every task of this thread, one per purpose (`read`: file bytes
 * read in; `ahead`: the next ones, read while those are worked on; `plain`: a blob
 * opened for writing out): tasks run one at a time, and a
 * fresh allocation per task or blob would leave garbage that raises peak memory until
 * the collector runs. Callers must copy out anything they keep.
 */
export function scratch(size: number, purpose: keyof typeof scratchBuffers = 'read'): Buffer {
  if (scratchBuffers[purpose].length < size) scratchBuffers[purpose] = Buffer.allocUnsafeSlow(size);
  return scratchBuffers[purpose].subarray(0, size);
}
