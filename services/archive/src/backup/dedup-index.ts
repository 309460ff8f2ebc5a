import { idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { ID_BYTES } from '../crypto/hash.js';
import { BlobType, ENTRY_BYTES, readEntry } from '../pack/blob-entry.js';
import { storedPacks } from '../pack/stored-packs.js';
import type { Archive } from '../repository/archive.js';
import { decodeChunkMap } from '../snapshot/chunk-map.js';
import { decodePageMap } from '../snapshot/page-map.js';
import type { FileContent, TreeEntry } from '../snapshot/tree-entry.js';
import type { MetadataIndex } from '../snapshot/tree-io.js';
import { KnownBlobs } from './known-blobs.js';

/** What a backup knows of the archive before it starts. */
export interface DedupIndex {
  /** Blob ids stored in packs that exist: never stored again (at most `max` of them). */
  readonly known: KnownBlobs;
  /** True when `known` holds every blob of the archive (fewer than `max`). */
  readonly complete: boolean;
  /** Locations of metadata blobs (the parent's trees and maps), in packs that exist. */
  readonly metadata: MetadataIndex;
  /**
   * Blobs the index lists only in packs that are gone: a backup stores them again
   * when it meets their data, and never reuses a parent's content that needs them.
   */
  readonly lost: Set<string>;
  /** The index objects `known` points into. */
  readonly indexes: readonly IndexObject[];
}

/**
 * Reads the index for deduplication, trusting only packs that exist (one `list` of
 * `data/`): deduplicating against a lost pack would commit a snapshot that cannot be
 * restored, and the archive would never heal. An archive that lost nothing costs one
 * set lookup per pack more.
 */
export async function loadDedupIndex(
  archive: Archive,
  max: number,
  signal?: AbortSignal,
): Promise<DedupIndex> {
  const [stored, indexes] = await Promise.all([
    storedPacks(archive.backend, signal),
    archive.openIndexes(signal),
  ]);
  const metadata: MetadataIndex = new Map();
  const lost = new Set<string>();
  const gone = new Set<string>();
  let listed = 0;
  for (const index of indexes) {
    for (const pack of index.packExtents) {
      listed += pack.count;
      if (stored.has(pack.id)) continue;
      gone.add(pack.id);
      for (const at of entryOffsets(pack)) lost.add(keyAt(index.bytes, at));
    }
  }
  // The entries are read where the index files hold them: no object per blob.
  const known = new KnownBlobs(Math.min(listed, max));
  let complete = true;
  for (const index of indexes) {
    const { bytes } = index;
    const ids: number[] = [];
    for (const pack of index.packExtents) {
      if (!stored.has(pack.id)) continue;
      for (const at of entryOffsets(pack)) {
        if (lost.size > 0) lost.delete(keyAt(bytes, at));
        if (bytes[at] !== BlobType.Data)
          metadata.set(keyAt(bytes, at), { ...readEntry(bytes, at), pack: pack.id });
        if (known.size + ids.length < max) ids.push(at + 2);
        else complete = false;
      }
    }
    known.addFrom(bytes, ids);
  }
  if (lost.size > 0) {
    const packs = [...gone].map((id) => id.slice(0, 16));
    archive.warn(
      `lost:${packs.join(',')}`,
      `${packs.length === 1 ? 'pack' : 'packs'} ${packs.slice(0, 5).join(', ')}${packs.length > 5 ? ' …' : ''} ${packs.length === 1 ? 'is' : 'are'} missing: ${lost.size} blobs are lost; this backup stores again those it meets (\`pullback verify --repair\` cleans the index)`,
    );
  }
  return { known, complete, metadata, lost, indexes };
}

function* entryOffsets(pack: { readonly at: number; readonly count: number }): Generator<number> {
  for (let i = 0; i < pack.count; i++) yield pack.at + i * ENTRY_BYTES;
}

/** The `idKey` of the entry at `at` (its id follows the type and compression bytes). */
function keyAt(bytes: Buffer, at: number): string {
  return bytes.toString('latin1', at + 2, at + 2 + ID_BYTES);
}

/**
 * The parent entry, or undefined when its content needs a blob the archive no longer
 * has: the file is then read and stored as if it were new, instead of being pointed at
 * data that is gone. `missing` answers for one blob id (`idKey`); the blob lists inside
 * maps are only read when `readMaps` (some pack was lost), since that costs a read.
 */
export async function usableParent(
  entry: TreeEntry | undefined,
  missing: (key: string) => boolean,
  readMaps: boolean,
  readMap: (id: Buffer) => Promise<Buffer>,
): Promise<TreeEntry | undefined> {
  if (entry?.content === undefined) return entry;
  return (await needsMissing(entry.content, missing, readMaps, readMap)) ? undefined : entry;
}

async function needsMissing(
  content: FileContent,
  missing: (key: string) => boolean,
  readMaps: boolean,
  readMap: (id: Buffer) => Promise<Buffer>,
): Promise<boolean> {
  const gone = (hex: string | Buffer) =>
    missing(idKey(typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex));
  if ('small' in content) return gone(content.small.blob);
  if ('chunks' in content) return content.chunks.some(([id]) => gone(id));
  const maps = 'chunkMaps' in content ? content.chunkMaps : content.pages;
  for (const map of maps) {
    if (gone(map)) return true;
    if (!readMaps) continue;
    let plain: Buffer;
    try {
      plain = await readMap(Buffer.from(map, 'hex'));
    } catch {
      return true; // a map that cannot be read is as good as lost
    }
    const ids = 'chunkMaps' in content ? decodeChunkMap(plain).map((c) => c.id) : decodePageMap(plain).blobs;
    if (ids.some(gone)) return true;
  }
  return false;
}
