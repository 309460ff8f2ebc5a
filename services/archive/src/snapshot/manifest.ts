import { isNotFound } from '@pullback/storage';
import { plainHash } from '../crypto/hash.js';
import { isArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';

const SNAPSHOT_AAD = Buffer.from('pullback snapshot');

export interface SnapshotStats {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Entries that are neither files, directories nor symlinks (sockets, fifos, devices). */
  readonly skipped: number;
  /** Sum of the sizes of the snapshot's files. */
  readonly logicalBytes: number;
  /** Bytes read from the source (files unchanged by size, mtime and ctime are not read). */
  readonly bytesRead: number;
  readonly newBlobs: number;
  /** Bytes this snapshot added to the archive: new packs, index and manifest. */
  readonly newBytesStored: number;
  readonly durationMs: number;
}

/** The `snapshots/<id>` object (sealed JSON): written last, it commits a snapshot. */
export interface SnapshotManifest {
  readonly version: 1;
  readonly time: string;
  readonly hostname: string;
  /** Absolute source paths; the tree's root "" is `paths[0]`. */
  readonly paths: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
  readonly parent: string | null;
  /** Tree blob ids (hex), in order: their lines concatenated are the whole tree. */
  readonly tree: readonly string[];
  readonly stats: SnapshotStats;
}

export interface Snapshot extends SnapshotManifest {
  /** BLAKE3 of the stored object, hex; also its name. */
  readonly id: string;
}

export function encodeSnapshot(archive: Archive, manifest: SnapshotManifest): { id: string; body: Buffer } {
  const body = archive.sealJson(manifest, SNAPSHOT_AAD);
  return { id: plainHash(body).toString('hex'), body };
}

export async function saveSnapshot(archive: Archive, manifest: SnapshotManifest): Promise<Snapshot> {
  const { id, body } = encodeSnapshot(archive, manifest);
  await archive.backend.save(`snapshots/${id}`, body);
  return { ...manifest, id };
}

export async function loadSnapshotById(
  archive: Archive,
  id: string,
  signal?: AbortSignal,
  /** Take a snapshot this archive already opened (see `opened`); false reads its bytes again (verify). */
  reuse = true,
): Promise<Snapshot> {
  const known = reuse ? openedOf(archive).get(id) : undefined;
  if (known !== undefined) return known;
  const sealed = await archive.loadObject(`snapshots/${id}`, signal);
  const manifest = archive.openJson<SnapshotManifest>(sealed, SNAPSHOT_AAD, `snapshot ${id}`);
  const snapshot = { ...manifest, id };
  openedOf(archive).set(id, snapshot);
  return snapshot;
}

/**
 * Snapshots already opened, per open archive. A snapshot is named by the hash of its
 * stored bytes and never rewritten, so one opened once stays right for as long as a
 * listing still names it: a backup that lists the snapshots three times (to find the
 * export's parent, to check it, to choose the tree's parent) reads each one once.
 */
const opened = new WeakMap<Archive, Map<string, Snapshot>>();

function openedOf(archive: Archive): Map<string, Snapshot> {
  let map = opened.get(archive);
  if (map === undefined) {
    map = new Map();
    opened.set(archive, map);
  }
  return map;
}

/**
 * Every snapshot that opens, oldest first, and the ids of those that do not (damaged
 * manifests). Snapshots removed while listing are skipped.
 */
export async function readSnapshots(
  archive: Archive,
  signal?: AbortSignal,
  /** See `loadSnapshotById`: verify, repair and prune read every manifest's bytes again. */
  reuse = false,
): Promise<{ snapshots: Snapshot[]; damaged: string[] }> {
  const ids = await snapshotIds(archive, '', signal);
  // Forgotten snapshots leave the cache of a long-running worker too.
  const cached = openedOf(archive);
  const listed = new Set(ids);
  for (const id of cached.keys()) if (!listed.has(id)) cached.delete(id);
  return openSnapshots(archive, ids, signal, reuse);
}

/** The ids of the snapshots whose id starts with `prefix` (every one for ""). */
export async function snapshotIds(archive: Archive, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const ids: string[] = [];
  for await (const info of archive.backend.list(`snapshots/${prefix}`, signal ? { signal } : {})) {
    ids.push(info.name.slice('snapshots/'.length));
  }
  return ids;
}

/** The snapshots of `ids` that open, oldest first, and the ids of the damaged ones; removed ones are skipped. */
export async function openSnapshots(
  archive: Archive,
  ids: readonly string[],
  signal?: AbortSignal,
  reuse = true,
): Promise<{ snapshots: Snapshot[]; damaged: string[] }> {
  const snapshots: Snapshot[] = [];
  const damaged: string[] = [];
  // All asked for at once: the backend's limit decides how many run together (an
  // archive of a thousand hourly snapshots in S3 would otherwise wait on a thousand
  // round trips one after another).
  await Promise.all(
    ids.map(async (id) => {
      try {
        snapshots.push(await loadSnapshotById(archive, id, signal, reuse));
      } catch (error) {
        if (isArchiveError(error, 'corrupt')) damaged.push(id);
        else if (!isNotFound(error)) throw error;
      }
    }),
  );
  snapshots.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
  return { snapshots, damaged: damaged.sort() };
}

/**
 * Every snapshot, oldest first. A damaged manifest only loses its own snapshot: it is
 * warned of (`Archive.onWarning`) and left out, so the others still list, restore and
 * back up.
 */
export async function listSnapshots(archive: Archive, signal?: AbortSignal): Promise<Snapshot[]> {
  const { snapshots, damaged } = await readSnapshots(archive, signal, true);
  for (const id of damaged) {
    archive.warn(
      `snapshots/${id}`,
      `snapshot ${id.slice(0, 12)} fails authentication: left out (\`pullback verify\` lists the damage)`,
    );
  }
  return snapshots;
}
