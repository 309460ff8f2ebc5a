import type { BlobEntry } from '../pack/blob-entry.js';

/** A blob's entry plus the pack that holds it. */
export interface BlobLocation extends BlobEntry {
  readonly pack: string;
}

/** Map key for a 32-byte id: a latin1 string is the cheapest exact key a Map takes. */
export function idKey(id: Buffer): string {
  return id.toString('latin1');
}
