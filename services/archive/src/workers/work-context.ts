import { GearChunker, gearTable } from '../chunking/gear-cdc.js';
import { KeyedHash } from '../crypto/hash.js';
import type { ArchiveConfig } from '../repository/config.js';

/** What a worker needs to hash, cut, compress and seal: derived keys and the config. */
export interface WorkSetup {
  readonly encryptionKey: Buffer;
  readonly idKey: Buffer;
  readonly gearKey: Buffer;
  readonly config: ArchiveConfig;
}

export interface WorkContext {
  readonly encryptionKey: Buffer;
  readonly hash: KeyedHash;
  readonly chunker: GearChunker;
  readonly config: ArchiveConfig;
}

export function workContext(setup: WorkSetup): WorkContext {
  const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    encryptionKey: asBuffer(setup.encryptionKey),
    hash: new KeyedHash(asBuffer(setup.idKey)),
    chunker: new GearChunker(gearTable(asBuffer(setup.gearKey)), setup.config.chunker),
    config: setup.config,
  };
}
