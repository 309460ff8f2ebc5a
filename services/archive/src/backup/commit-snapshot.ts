import type { Archive } from '../repository/archive.js';
import { encodeSnapshot, type Snapshot, type SnapshotManifest } from '../snapshot/manifest.js';

/**
 * Saves the manifest, which commits the snapshot. Its stats count the manifest's own
 * size as stored, and the time from `started` until now.
 */
export async function commitSnapshot(
  archive: Archive,
  manifest: SnapshotManifest,
  started: number,
  signal: AbortSignal | undefined,
): Promise<Snapshot> {
  const draft = encodeSnapshot(archive, manifest);
  const final: SnapshotManifest = {
    ...manifest,
    stats: {
      ...manifest.stats,
      newBytesStored: manifest.stats.newBytesStored + draft.body.length,
      durationMs: Date.now() - started,
    },
  };
  const { id, body } = encodeSnapshot(archive, final);
  await archive.backend.save(`snapshots/${id}`, body, signal ? { signal } : {});
  return { ...final, id };
}
