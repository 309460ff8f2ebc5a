import { idKey } from '../blob-index/blob-location.js';
import { encodeIndex, type IndexedPack } from '../blob-index/index-file.js';
import { plainHash } from '../crypto/hash.js';
import { ArchiveError, throwIfAborted } from '../errors.js';
import type { BlobEntry } from '../pack/blob-entry.js';
import { PackWriter, packName, type SavedPack } from '../pack/pack-writer.js';
import { storedPacks } from '../pack/stored-packs.js';
import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';
import { withExclusiveLock } from '../repository/with-lock.js';
import { decodeChunkMap } from '../snapshot/chunk-map.js';
import { listSnapshots } from '../snapshot/manifest.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { loadMetadataIndex, readMetadataBlob, readTree } from '../snapshot/tree-io.js';
import type { WriteResult } from '../threads/tasks.js';
import { workSetup } from '../threads/work-context.js';
import { WorkerPool } from '../threads/worker-pool.js';
import { removeOrphanProofs } from './orphan-proofs.js';
import { refuseIfUnreadable } from './refuse-unreadable.js';

export interface PruneOptions {
  /**
   * A pack in use is rewritten (its live blobs copied to a new pack) once at least
   * this fraction of its bytes is garbage. Default: 0.3.
   */
  readonly repackThreshold?: number;
  /** Count what would be removed, change nothing. Default: false. */
  readonly dryRun?: boolean;
  /** How long to wait for backups and restores (shared locks) to end, in ms. Default: 60 000. */
  readonly lockWaitMs?: number;
  readonly workers?: number;
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  readonly packsRemoved: number;
  readonly packsRewritten: number;
  readonly packsWritten: number;
  readonly bytesRemoved: number;
  readonly bytesWritten: number;
  readonly indexObjectsReplaced: number;
  /** Temporaries of killed processes removed (fs driver; counted, not removed, by a dry run). */
  readonly temporariesRemoved: number;
  readonly temporaryBytesRemoved: number;
  /** Restore-drill proofs of snapshots that are gone, removed (counted by a dry run). */
  readonly proofsRemoved: number;
}

interface PackUse {
  readonly id: string;
  readonly size: number;
  /** Entries that are the chosen copy of a referenced blob. */
  readonly live: BlobEntry[];
  liveBytes: number;
}

/**
 * Removes what no snapshot references, under an exclusive lock (no backup or restore
 * runs meanwhile). Packs with no live blob are removed; packs that are mostly garbage
 * have their live blobs copied, as stored (after checking them), into new packs. Order,
 * so that a crash at any point loses nothing: new packs, then one new index that
 * supersedes all the old ones, then the old index objects, then the packs. Then the
 * proofs of snapshots that are gone.
 *
 * Memory: the ids of every referenced blob and the entries of every pack are held
 * (about 100 bytes per blob), as restic's prune does.
 */
export async function pruneArchive(archive: Archive, options: PruneOptions = {}): Promise<PruneResult> {
  const locking = { ...options, keepTemporaries: options.dryRun ?? false };
  return withExclusiveLock(archive, 'prune', locking, async (signal, temporaries) => {
    const packs = await prune(archive, options, signal);
    return {
      ...packs,
      temporariesRemoved: temporaries.files,
      temporaryBytesRemoved: temporaries.bytes,
      proofsRemoved: await removeOrphanProofs(archive, options.dryRun ?? false, signal),
    };
  });
}

type PackPruneResult = Omit<PruneResult, 'temporariesRemoved' | 'temporaryBytesRemoved' | 'proofsRemoved'>;

async function prune(archive: Archive, options: PruneOptions, signal: AbortSignal): Promise<PackPruneResult> {
  const threshold = options.repackThreshold ?? 0.3;
  await refuseIfUnreadable(archive, signal);
  const referenced = await referencedBlobs(archive, signal);

  // Every pack in storage, and what the (non-superseded) index says of each.
  const stored = await storedPacks(archive.backend, signal);
  const indexNames: string[] = [];
  for await (const info of archive.backend.list('index/', { signal })) indexNames.push(info.name);
  const uses = new Map<string, PackUse>();
  const chosen = new Set<string>();
  for (const index of (await archive.readIndexes(signal)).live) {
    for (const pack of index.packs) {
      const size = stored.get(pack.id);
      if (size === undefined || uses.has(pack.id)) continue;
      const use: PackUse = { id: pack.id, size, live: [], liveBytes: 0 };
      for (const entry of pack.entries) {
        const key = idKey(entry.id);
        if (!referenced.has(key) || chosen.has(key)) continue;
        chosen.add(key);
        use.live.push(entry);
        use.liveBytes += entry.length;
      }
      uses.set(pack.id, use);
    }
  }
  for (const key of referenced) {
    if (!chosen.has(key)) {
      throw new ArchiveError(
        'missing-data',
        `blob ${Buffer.from(key, 'latin1').toString('hex').slice(0, 16)} is referenced but in no pack`,
        { hint: 'run `pullback verify`; prune changes nothing while data is missing' },
      );
    }
  }

  const remove: string[] = [];
  const rewrite: PackUse[] = [];
  const keep: PackUse[] = [];
  // Packs no index lists are leftovers of interrupted backups (nothing else writes
  // while the exclusive lock is held).
  for (const id of stored.keys()) if (!uses.has(id)) remove.push(id);
  for (const use of uses.values()) {
    if (use.live.length === 0) remove.push(use.id);
    else if (1 - use.liveBytes / use.size >= threshold) rewrite.push(use);
    else keep.push(use);
  }
  const bytesRemoved = [...remove, ...rewrite.map((u) => u.id)].reduce(
    (sum, id) => sum + (stored.get(id) ?? 0),
    0,
  );
  const result = {
    packsRemoved: remove.length,
    packsRewritten: rewrite.length,
    packsWritten: 0,
    bytesRemoved,
    bytesWritten: 0,
    indexObjectsReplaced: indexNames.length,
  };
  if (options.dryRun) return result;
  if (remove.length === 0 && rewrite.length === 0 && indexNames.length <= 1) {
    return { ...result, indexObjectsReplaced: 0 };
  }

  const written: SavedPack[] = [];
  const writer = new PackWriter({
    backend: archive.backend,
    key: archive.keys.encryption,
    packSize: archive.config.packSize,
    signal,
    onSaved: (pack) => written.push(pack),
  });
  const pool = new WorkerPool(workSetup(archive), options.workers);
  try {
    for (const use of rewrite) {
      throwIfAborted(signal);
      const body = await readAll(await archive.backend.load(packName(use.id), undefined, { signal }));
      // Taken out first: the check moves `body` to a worker thread.
      const sealed = use.live.map((entry) =>
        Buffer.from(body.subarray(entry.offset, entry.offset + entry.length)),
      );
      // Copied only once checked: prune must never spread a damaged blob.
      const check = await pool.run<WriteResult>(
        {
          kind: 'write',
          sealed: body,
          blobs: use.live.map((e) => ({ ...e, at: e.offset, writes: [] })),
        },
        [body],
      );
      if (check.corrupt.length > 0) {
        throw new ArchiveError(
          'corrupt',
          `pack ${use.id.slice(0, 16)}: blob ${check.corrupt[0]!.id.toString('hex').slice(0, 16)}: ${check.corrupt[0]!.reason}`,
          { hint: 'run `pullback verify --read-data`; prune changes nothing while data is damaged' },
        );
      }
      for (const [i, entry] of use.live.entries()) {
        await writer.add({
          type: entry.type,
          compression: entry.compression,
          id: entry.id,
          sealed: sealed[i]!,
          plainLength: entry.plainLength,
        });
      }
    }
    await writer.flush();
  } finally {
    await pool.close();
  }

  // One index for everything that stays, superseding every index object read.
  const packs: IndexedPack[] = [
    ...keep.map((use) => ({ id: use.id, entries: use.live })),
    ...written.map((pack) => ({ id: pack.id, entries: pack.entries })),
  ];
  const body = encodeIndex(archive.keys.encryption, {
    supersedes: indexNames.map((name) => name.slice('index/'.length)),
    packs,
  });
  const newIndex = `index/${plainHash(body).toString('hex')}`;
  await archive.backend.save(newIndex, body, { signal });
  for (const name of indexNames) if (name !== newIndex) await archive.backend.remove(name, { signal });
  for (const id of [...remove, ...rewrite.map((u) => u.id)])
    await archive.backend.remove(packName(id), { signal });
  return {
    ...result,
    packsWritten: written.length,
    bytesWritten: written.reduce((sum, pack) => sum + pack.size, 0) + body.length,
  };
}

/** The id of every blob any snapshot needs: trees, maps and data. */
async function referencedBlobs(archive: Archive, signal: AbortSignal): Promise<Set<string>> {
  const metadata = await loadMetadataIndex(archive, signal);
  const referenced = new Set<string>();
  const add = (id: string | Buffer) =>
    referenced.add(idKey(typeof id === 'string' ? Buffer.from(id, 'hex') : id));
  for (const snapshot of await listSnapshots(archive, signal)) {
    const what = `snapshot ${snapshot.id.slice(0, 12)}`;
    for (const tree of snapshot.tree) add(tree);
    for await (const entry of readTree(archive, metadata, snapshot.tree, snapshot.id, signal)) {
      const content = entry.content;
      if (!content) continue;
      if ('small' in content) add(content.small.blob);
      else if ('chunks' in content) for (const [id] of content.chunks) add(id);
      else {
        const maps = 'chunkMaps' in content ? content.chunkMaps : content.pages;
        for (const map of maps) {
          if (referenced.has(idKey(Buffer.from(map, 'hex')))) continue;
          add(map);
          const plain = await readMetadataBlob(
            archive,
            metadata,
            Buffer.from(map, 'hex'),
            `${what} file ${entry.path}`,
            signal,
          );
          if ('chunkMaps' in content) for (const chunk of decodeChunkMap(plain)) add(chunk.id);
          else for (const blob of decodePageMap(plain).blobs) add(blob);
        }
      }
    }
  }
  return referenced;
}
