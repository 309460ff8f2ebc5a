import type { Archive } from '../repository/archive.js';
import { withExclusiveLock } from '../repository/with-lock.js';
import { readSnapshots } from '../snapshot/manifest.js';
import { type QuarantinedObject, quarantine } from './quarantine.js';
import { type RepairIndexResult, rebuildIndex } from './repair-index.js';

export interface RepairArchiveOptions {
  /** Damaged blobs (as `idKey`s, from `verifyArchive`'s `damagedBlobs`) to drop from the index. */
  readonly dropBlobs?: ReadonlySet<string>;
  /** How long to wait for backups and restores (shared locks) to end, in ms. Default: 60 000. */
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
}

export interface RepairArchiveResult extends RepairIndexResult {
  /** Snapshot manifests that failed authentication, moved under `damaged/`. */
  readonly snapshotsQuarantined: QuarantinedObject[];
}

/**
 * `verify --repair`: under the exclusive lock, moves the snapshot manifests that do
 * not open under `damaged/` (a manifest that fails authentication would stop prune for
 * ever; its bytes are kept, never deleted), then rebuilds the index from
 * the packs' headers without the damaged blobs (see `repairIndex`). Nothing that can
 * still be read is removed: packs stay for prune, which checks what snapshots need.
 */
export async function repairArchive(
  archive: Archive,
  options: RepairArchiveOptions = {},
): Promise<RepairArchiveResult> {
  return withExclusiveLock(archive, 'repair', options, async (signal) => {
    const { damaged } = await readSnapshots(archive, signal);
    const snapshotsQuarantined: QuarantinedObject[] = [];
    for (const id of damaged)
      snapshotsQuarantined.push(await quarantine(archive.backend, `snapshots/${id}`, signal));
    const index = await rebuildIndex(archive, options.dropBlobs ?? new Set(), signal);
    return { ...index, snapshotsQuarantined };
  });
}
