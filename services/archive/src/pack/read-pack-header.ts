import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';
import type { BlobEntry } from './blob-entry.js';
import { decodePackHeader, TRAILER_BYTES } from './pack-header.js';
import { packName } from './pack-writer.js';

/**
 * A pack's own list of its blobs, read from its tail (two ranged reads), or undefined
 * when the header is not there or does not open. `size` is the pack's size, as listed.
 */
export async function readPackHeader(
  archive: Archive,
  pack: string,
  size: number,
  signal?: AbortSignal,
): Promise<BlobEntry[] | undefined> {
  if (size < TRAILER_BYTES) return undefined;
  const load = async (offset: number, length: number) =>
    readAll(await archive.backend.load(packName(pack), { offset, length }, signal ? { signal } : {}));
  const trailer = await load(size - TRAILER_BYTES, TRAILER_BYTES);
  if (trailer.length !== TRAILER_BYTES) return undefined;
  const length = trailer.readUInt32LE(0);
  if (length === 0 || length > size - TRAILER_BYTES) return undefined;
  const sealed = await load(size - TRAILER_BYTES - length, length);
  if (sealed.length !== length) return undefined;
  const entries = decodePackHeader(archive.keys.encryption, sealed);
  // Every blob must lie inside the pack, before its header.
  return entries?.every((e) => e.offset + e.length <= size - TRAILER_BYTES - length) ? entries : undefined;
}
