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
): Promise<Snapshot> {
  const sealed = await archive.loadObject(`snapshots/${id}`, signal);
  const manifest = archive.openJson<SnapshotManifest>(sealed, SNAPSHOT_AAD, `snapshot ${id}`);
  return { ...manifest, id };
}

/**
 * Every snapshot that opens, oldest first, and the ids of those that do not (damaged
 * manifests). Snapshots removed while listing are skipped.
 */
export async function readSnapshots(
  archive: Archive,
  signal?: AbortSignal,
): Promise<{ snapshots: Snapshot[]; damaged: string[] }> {
  return openSnapshots(archive, await snapshotIds(archive, '', signal), signal);
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
): Promise<{ snapshots: Snapshot[]; damaged: string[] }> {
  const snapshots: Snapshot[] = [];
  const damaged: string[] = [];
  for (const id of ids) {
    try {
      snapshots.push(await loadSnapshotById(archive, id, signal));
    } catch (error) {
      if (isArchiveError(error, 'corrupt')) damaged.push(id);
      else if (!isNotFound(error)) throw error;
    }
  }
  snapshots.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
  return { snapshots, damaged };
}

/**
 * Every snapshot, oldest first. A damaged manifest only loses its own snapshot: it is
 * warned of (`Archive.onWarning`) and left out, so the others still list, restore and
 * back up.
 */
export async function listSnapshots(archive: Archive, signal?: AbortSignal): Promise<Snapshot[]> {
  const { snapshots, damaged } = await readSnapshots(archive, signal);
  for (const id of damaged) {
    archive.warn(
      `snapshots/${id}`,
      `snapshot ${id.slice(0, 12)} fails authentication: left out (\`pullback verify\` lists the damage)`,
    );
  }
  return snapshots;
}
