import { type Archive, listSnapshots } from '@pullback/archive';
import { describeSnapshot } from '@pullback/pipeline';

/**
 * The highest epoch each component's snapshots record (the pull tags every snapshot
 * with the epoch of its export, snapshot-description.ts): the lowest epoch a registry
 * restored after Redis lost it may take, so that no epoch already used is handed out
 * again. Components without snapshots are left out (they start at 1).
 */
export async function recordedEpochs(archive: Archive): Promise<Record<string, number>> {
  const epochs: Record<string, number> = {};
  for (const snapshot of await listSnapshots(archive)) {
    const { component, epoch } = describeSnapshot(snapshot);
    if (component === undefined || epoch === undefined) continue;
    epochs[component] = Math.max(epochs[component] ?? 1, epoch);
  }
  return epochs;
}
