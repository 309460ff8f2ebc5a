import type { Archive } from '../repository/archive.js';
import { listSnapshots as listAll, type Snapshot } from './manifest.js';

/** Which snapshots a command looks at. */
export interface SnapshotScope {
  /** Only snapshots whose `component` tag is this. */
  readonly component?: string;
  readonly signal?: AbortSignal;
}

export function inScope(snapshot: Snapshot, scope: SnapshotScope): boolean {
  return scope.component === undefined || snapshot.tags.component === scope.component;
}

/** The archive's snapshots in the scope, oldest first. */
export async function listSnapshots(archive: Archive, scope: SnapshotScope = {}): Promise<Snapshot[]> {
  return (await listAll(archive, scope.signal)).filter((snapshot) => inScope(snapshot, scope));
}
