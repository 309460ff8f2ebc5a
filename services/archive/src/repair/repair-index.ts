import { idKey } from '../blob-index/blob-location.js';
import { encodeIndex, type IndexedPack } from '../blob-index/index-file.js';
import { plainHash } from '../crypto/hash.js';
import { throwIfAborted } from '../errors.js';
import type { BlobEntry } from '../pack/blob-entry.js';
import { readPackHeader } from '../pack/read-pack-header.js';
import { storedPacks } from '../pack/stored-packs.js';
import type { Archive } from '../repository/archive.js';
import { withExclusiveLock } from '../repository/with-lock.js';
import { type QuarantinedObject, quarantine } from './quarantine.js';

export interface RepairIndexOptions {
  /**
   * Blob ids (as `idKey`s) to leave out of the new index: blobs verify found damaged,
   * so that the next backup that meets their data stores it again. Default: none.
   */
  readonly dropBlobs?: ReadonlySet<string>;
  /** How long to wait for backups and restores (shared locks) to end, in ms. Default: 60 000. */
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
}

export interface RepairIndexResult {
  /** Packs the new index lists. */
  readonly packs: number;
  /** Blob entries the new index lists. */
  readonly blobs: number;
  /** Packs listed by the old index that are gone (their blobs are lost). */
  readonly packsMissing: string[];
  /** Packs whose header does not open and that no readable index lists: left for prune. */
  readonly packsUnreadable: string[];
  /** Damaged blobs left out (`dropBlobs` that were listed). */
  readonly blobsDropped: number;
  /** Index objects the new one replaces (damaged ones included). */
  readonly indexObjectsReplaced: number;
  /** Index objects that failed authentication, moved under `damaged/` rather than removed. */
  readonly indexObjectsQuarantined: QuarantinedObject[];
}

/** Pack headers read at once. */
const HEADER_READS = 8;

/**
 * Rebuilds the index from the packs' own headers (restic's `repair index`), under the
 * exclusive lock: one new index object lists every pack in storage whose header opens
 * (a pack whose header does not open keeps what a readable index said of it), and
 * supersedes every index object, damaged ones included; then the readable ones are
 * removed and the damaged ones moved under `damaged/` (their bytes are kept). What
 * it drops: entries of packs that are gone, and `dropBlobs`. A snapshot that needs a
 * dropped blob stays incomplete until a backup of the same data stores it again (blobs
 * are named by content, so the old snapshot heals with it).
 */
export async function repairIndex(
  archive: Archive,
  options: RepairIndexOptions = {},
): Promise<RepairIndexResult> {
  return withExclusiveLock(archive, 'repair index', options, (signal) =>
    rebuildIndex(archive, options.dropBlobs ?? new Set(), signal),
  );
}

/** `repairIndex`'s work, for a caller that holds the exclusive lock. */
export async function rebuildIndex(
  archive: Archive,
  drop: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<RepairIndexResult> {
  const indexNames: string[] = [];
  for await (const info of archive.backend.list('index/', { signal })) indexNames.push(info.name);
  const stored = await storedPacks(archive.backend, signal);
  // What the readable index objects say, for packs whose header does not open.
  const { live, damaged } = await archive.readIndexes(signal);
  const indexed = new Map<string, readonly BlobEntry[]>();
  for (const index of live) for (const pack of index.packs) indexed.set(pack.id, pack.entries);

  const packs: IndexedPack[] = [];
  const packsUnreadable: string[] = [];
  let blobs = 0;
  let blobsDropped = 0;
  const queue = [...stored];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      throwIfAborted(signal);
      const [pack, size] = next;
      const entries = (await readPackHeader(archive, pack, size, signal)) ?? indexed.get(pack);
      if (entries === undefined) {
        packsUnreadable.push(pack);
        continue;
      }
      const kept = entries.filter((entry) => !drop.has(idKey(entry.id)));
      blobsDropped += entries.length - kept.length;
      blobs += kept.length;
      if (kept.length > 0) packs.push({ id: pack, entries: kept });
    }
  };
  await Promise.all(Array.from({ length: HEADER_READS }, worker));
  packs.sort((a, b) => (a.id < b.id ? -1 : 1));

  const body = encodeIndex(archive.keys.encryption, {
    supersedes: indexNames.map((name) => name.slice('index/'.length)),
    packs,
  });
  const newIndex = `index/${plainHash(body).toString('hex')}`;
  await archive.backend.save(newIndex, body, { signal });
  const indexObjectsQuarantined: QuarantinedObject[] = [];
  for (const name of indexNames) {
    if (name === newIndex) continue;
    if (damaged.includes(name)) indexObjectsQuarantined.push(await quarantine(archive.backend, name, signal));
    else await archive.backend.remove(name, { signal });
  }
  return {
    packs: packs.length,
    blobs,
    packsMissing: [...indexed.keys()].filter((pack) => !stored.has(pack)).sort(),
    packsUnreadable: packsUnreadable.sort(),
    blobsDropped,
    indexObjectsReplaced: indexNames.filter((name) => name !== newIndex).length,
    indexObjectsQuarantined,
  };
}
