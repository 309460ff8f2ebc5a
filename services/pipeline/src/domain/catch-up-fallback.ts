import { type Archive, listSnapshots } from '@pullback/archive';
import type { ImportJob } from '../queues/job-contracts.js';
import type { Recipe } from '../recipe.js';
import type { Registry } from '../registry/registry.js';
import { describeSnapshot } from './snapshot-description.js';

export interface CatchUpFallbackInput {
  readonly component: string;
  /** The fallback to bring to the component's newest snapshot. */
  readonly instance: string;
  /** The archive, open with its key. */
  readonly archive: Archive;
  /** The component's recipe: its `importKinds` say which snapshots a fallback restores. */
  readonly recipe: Recipe;
  readonly registry: Registry;
  /** Whether an import of `snapshotId` waits or runs for the fallback (`Pipeline.isImportPending`). */
  readonly isImportPending: (snapshotId: string) => Promise<boolean>;
  /** Queues a new import job, even when one for the same snapshot finished before. */
  readonly enqueueImport: (job: ImportJob) => Promise<void>;
}

/**
 * Queues the component's newest importable snapshot for a fallback that does not
 * hold it healthy: a fallback whose import agent was down catches up when it
 * returns, even after its imports ran out of attempts. Nothing is queued for an
 * instance that is not a fallback now, nor when the import is still pending (it runs
 * now that the agent is back). Supersession holds: `Registry.queueSnapshot` records
 * the snapshot as the fallback's newest queued only when no newer one was.
 */
export async function catchUpFallback(input: CatchUpFallbackInput): Promise<void> {
  const { registry, component: name, instance } = input;
  const record = await registry.instance(instance);
  const componentRecord = await registry.component(name);
  if (record?.role !== 'fallback' || componentRecord === undefined) return;
  const kinds = input.recipe.importKinds;
  const newest = (await listSnapshots(input.archive, { component: name }))
    .filter((snapshot) => kinds.includes(describeSnapshot(snapshot).kind))
    .at(-1);
  if (newest === undefined) return;
  if (record.state?.healthy && record.state.snapshotId === newest.id) return;
  // Its import is still pending: it will run now that the agent is back.
  if (await input.isImportPending(newest.id)) return;
  await registry.queueSnapshot(instance, newest.id, newest.time);
  await input.enqueueImport({
    component: name,
    instance,
    epoch: componentRecord.epoch,
    snapshotId: newest.id,
  });
}
