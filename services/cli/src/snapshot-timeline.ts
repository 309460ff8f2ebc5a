import {
  type Archive,
  listSnapshots as listArchiveSnapshots,
  listProofs,
  type Snapshot,
  type SnapshotProof,
} from '@pullback/archive';
import { type RestorableRange, restorableRange } from './point-in-time/restorable-range.js';

/**
 * What the archive says of its history, as `pullback snapshots` and the dashboard
 * show it: the snapshots oldest first, the restore drills' proofs (docs/wal.md,
 * "Proofs") and, per component with physical snapshots and archived WAL, the range
 * of time a restore can reach.
 */
export interface SnapshotTimeline {
  readonly snapshots: readonly Snapshot[];
  readonly proofs: ReadonlyMap<string, SnapshotProof>;
  /** Per component. */
  readonly ranges: ReadonlyMap<string, RestorableRange>;
}

export async function readSnapshotTimeline(
  archive: Archive,
  options: { readonly component?: string; readonly signal?: AbortSignal } = {},
): Promise<SnapshotTimeline> {
  const signal = options.signal;
  const snapshots = await listArchiveSnapshots(archive, {
    ...(options.component === undefined ? {} : { component: options.component }),
    ...(signal === undefined ? {} : { signal }),
  });
  const proofs = await listProofs(archive, signal === undefined ? {} : { signal });
  const ranges = new Map<string, RestorableRange>();
  for (const component of new Set(snapshots.map((snapshot) => snapshot.tags.component))) {
    if (component === undefined) continue;
    const range = await restorableRange(archive, component, signal);
    if (range !== undefined) ranges.set(component, range);
  }
  return { snapshots, proofs, ranges };
}
