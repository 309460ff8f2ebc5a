import type { Archive } from '../repository/archive.js';
import { listSnapshots as listAll, type Snapshot } from './manifest.js';

export interface ListSnapshotsOptions {
  /** Only snapshots whose `component` tag is this. */
  readonly component?: string;
  readonly signal?: AbortSignal;
}

/** The archive's snapshots, oldest first. */
export async function listSnapshots(
  archive: Archive,
  options: ListSnapshotsOptions = {},
): Promise<Snapshot[]> {
  const all = await listAll(archive, options.signal);
  return options.component === undefined ? all : all.filter((s) => s.tags.component === options.component);
}
