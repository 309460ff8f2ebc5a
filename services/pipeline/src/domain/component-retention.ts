import { type Archive, applyRetention, type Snapshot } from '@pullback/archive';
import type { ComponentConfig } from '../config/schema.js';
import { forgetWal } from './forget-wal.js';
import type { ForgetSnapshots } from './pull-artifact.js';
import { retentionKindOf } from './snapshot-description.js';

export interface ComponentRetentionInput {
  readonly archive: Archive;
  readonly component: string;
  readonly config: ComponentConfig;
  /** The component's snapshots, the new one among them. */
  readonly snapshots: readonly Snapshot[];
  /** The snapshot just committed: the retention of its kind is applied. */
  readonly snapshot: Snapshot;
  /** Default: none; then the plan is computed and nothing is removed. */
  readonly forget?: ForgetSnapshots;
  readonly signal?: AbortSignal;
}

/**
 * The component's retention after a new snapshot, for its kind alone (a daily logical
 * export never pushes an hourly physical one out): the snapshots the policy lets go
 * are forgotten, then the WAL only they needed (docs/wal.md). Prune is never run here.
 */
export async function applyComponentRetention(
  input: ComponentRetentionInput,
): Promise<{ readonly expired: readonly string[]; readonly forgotten: boolean }> {
  const { archive, component, snapshot, signal } = input;
  const policy = input.config.retention;
  const ofKind = input.snapshots.filter((other) => retentionKindOf(other) === retentionKindOf(snapshot));
  const plan = applyRetention(ofKind, policy);
  let expired = plan.forget.map((old) => old.id);
  const forgotten = !plan.policyEmpty && expired.length > 0 && input.forget !== undefined;
  if (forgotten && input.forget !== undefined) {
    const result = await input.forget(archive, {
      policy,
      component,
      splitBy: retentionKindOf,
      ...(signal ? { signal } : {}),
    });
    expired = result.forgotten.map((old) => old.id);
    await forgetWal(archive, { component, ...(signal ? { signal } : {}) });
  }
  return { expired, forgotten };
}
