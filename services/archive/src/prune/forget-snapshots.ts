import { ArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { withSharedLock } from '../repository/with-lock.js';
import { applyRetention, type RetentionPolicy } from '../retention/index.js';
import { historyOf } from '../snapshot/history.js';
import { listSnapshots } from '../snapshot/list-snapshots.js';
import type { Snapshot } from '../snapshot/manifest.js';

export interface ForgetOptions {
  /** Which snapshots to keep; the others (of each group) are forgotten. */
  readonly policy: RetentionPolicy;
  /** Only snapshots with this `component` tag. Default: all. */
  readonly component?: string;
  /**
   * Divides each history further: the policy applies to each part on its own (the
   * pipeline: a snapshot's kind, so that logical snapshots never count against the
   * physical ones' keep-N, nor the other way). Default: none, one part per history.
   */
  readonly splitBy?: (snapshot: Snapshot) => string;
  /** Report what would be forgotten, remove nothing. Default: false. */
  readonly dryRun?: boolean;
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
}

export interface ForgetResult {
  readonly kept: Snapshot[];
  readonly forgotten: Snapshot[];
}

/**
 * Applies a retention policy to each history (and part of one, `splitBy`) and removes the manifests of the snapshots it does not keep. Their data
 * stays until `pruneArchive`. Only manifests are removed, and a snapshot is whole or
 * gone, so this needs no more than a shared lock.
 */
export async function forgetSnapshots(archive: Archive, options: ForgetOptions): Promise<ForgetResult> {
  return withSharedLock(archive, 'forget', options, async (signal) => {
    const snapshots = await listSnapshots(archive, { component: options.component, signal });
    const groups = new Map<string, Snapshot[]>();
    for (const snapshot of snapshots) {
      const key =
        options.splitBy === undefined
          ? historyOf(snapshot)
          : JSON.stringify([historyOf(snapshot), options.splitBy(snapshot)]);
      groups.set(key, [...(groups.get(key) ?? []), snapshot]);
    }
    const kept: Snapshot[] = [];
    const forgotten: Snapshot[] = [];
    for (const group of groups.values()) {
      const plan = applyRetention(group, options.policy);
      if (plan.policyEmpty) {
        throw new ArchiveError('empty-policy', 'the retention policy keeps everything: nothing to forget', {
          hint: 'give at least one --keep-* option above 0 (a --keep-within longer than 0)',
        });
      }
      kept.push(...plan.keep.map((k) => k.snapshot));
      forgotten.push(...plan.forget);
    }
    if (!options.dryRun) {
      for (const snapshot of forgotten) await archive.backend.remove(`snapshots/${snapshot.id}`, { signal });
    }
    return { kept, forgotten };
  });
}
