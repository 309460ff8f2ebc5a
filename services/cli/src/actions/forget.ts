import {
  type Archive,
  checkPolicy,
  forgetSnapshots,
  isEmptyPolicy,
  pruneArchive,
  RETENTION_FIELDS,
  type RetentionPolicy,
  type Snapshot,
} from '@pullback/archive';
import { forgetWal } from '@pullback/pipeline/forget-wal';
import { retentionKindOf } from '@pullback/pipeline/snapshot-description';
import type { ArchiveFlags } from '../archive-access.js';
import { loadOptionalConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { formatBytes } from '../progress-display.js';

/** The `--keep-*` options mirror the config's retention keys one for one. */
export interface ForgetOptions extends ArchiveFlags, RetentionPolicy {
  readonly component?: string;
  readonly prune?: boolean;
  readonly dryRun?: boolean;
}

/**
 * `pullback forget`: drops the snapshots the retention policy does not keep and the WAL
 * only they needed, and with prune their data. Without --keep-* options each component of the config keeps what
 * its `retention` says.
 */
export async function forget(options: ForgetOptions, context: CommandContext): Promise<void> {
  const { archive } = await openArchiveFromFlags(options, context);
  const given = policyOf(options);
  const plans: Array<{ component?: string; policy: RetentionPolicy }> = [];
  if (Object.keys(given).length > 0) {
    plans.push({
      ...(options.component === undefined ? {} : { component: options.component }),
      policy: given,
    });
  } else {
    const loaded = await loadOptionalConfig(options.config, context.env);
    if (loaded === undefined) {
      throw new CliError(
        'no retention policy: give --keep-* options, or a config whose components have a retention',
      );
    }
    for (const [component, settings] of Object.entries(loaded.config.components)) {
      if (options.component !== undefined && component !== options.component) continue;
      // All zeros is no retention, as for the pull: the component keeps everything.
      if (!isEmptyPolicy(checkPolicy(settings.retention)))
        plans.push({ component, policy: settings.retention });
    }
    if (plans.length === 0) throw new CliError(`no component in ${loaded.path} has a retention policy`);
  }

  const verb = options.dryRun ? 'would forget' : 'forgot';
  const forgotten = new Set<string>();
  for (const plan of plans) {
    const result = await forgetSnapshots(archive, {
      policy: plan.policy,
      ...(plan.component === undefined ? {} : { component: plan.component }),
      // Physical and logical snapshots are each kept on their own (docs/exports.md).
      splitBy: retentionKindOf,
      dryRun: options.dryRun ?? false,
      signal: context.signal,
    });
    for (const snapshot of result.forgotten) forgotten.add(snapshot.id);
    const label = plan.component === undefined ? '' : `${plan.component}: `;
    context.stdout.write(
      `${label}kept ${result.kept.length}, ${verb} ${result.forgotten.length}${list(result.forgotten)}\n`,
    );
  }
  // Then the WAL only forgotten snapshots needed, per stream (docs/wal.md).
  const components = plans.some((plan) => plan.component === undefined)
    ? [undefined]
    : plans.map((plan) => plan.component);
  for (const component of components) {
    for (const wal of await forgetWal(archive, {
      ...(component === undefined ? {} : { component }),
      dryRun: options.dryRun ?? false,
      forgotten,
      signal: context.signal,
    })) {
      if (wal.removed === 0 || wal.keptFrom === undefined) continue;
      context.stdout.write(
        `wal ${wal.stream}: ${options.dryRun ? 'would remove' : 'removed'} ${wal.removed} segment${wal.removed === 1 ? '' : 's'} ` +
          `(${formatBytes(wal.bytes)}) before ${wal.keptFrom.lsn}, where the oldest kept snapshot starts\n`,
      );
    }
  }
  if (options.prune) await prune(archive, options.dryRun ?? false, context);
}

async function prune(archive: Archive, dryRun: boolean, context: CommandContext): Promise<void> {
  const result = await pruneArchive(archive, { dryRun, signal: context.signal });
  const packs = `${result.packsRemoved} pack${result.packsRemoved === 1 ? '' : 's'}`;
  // bytesRemoved counts the repacked packs too: all of them are deleted.
  context.stdout.write(
    dryRun
      ? `prune: would remove ${packs} and repack ${result.packsRewritten} (${formatBytes(result.bytesRemoved)} to delete)\n`
      : `prune: removed ${packs} and repacked ${result.packsRewritten} into ${result.packsWritten} ` +
          `(${formatBytes(result.bytesRemoved)} deleted, ${formatBytes(result.bytesWritten)} written with the new index)\n`,
  );
  if (result.proofsRemoved > 0) {
    context.stdout.write(
      `prune: ${dryRun ? 'would remove' : 'removed'} the restore proofs of ${result.proofsRemoved} forgotten snapshot${result.proofsRemoved === 1 ? '' : 's'}\n`,
    );
  }
}

function policyOf(source: Partial<RetentionPolicy>): RetentionPolicy {
  const policy: Record<string, unknown> = {};
  for (const key of RETENTION_FIELDS) if (source[key] !== undefined) policy[key] = source[key];
  return policy as RetentionPolicy;
}

function list(snapshots: readonly Snapshot[]): string {
  return snapshots.length === 0 ? '' : `: ${snapshots.map((snapshot) => snapshot.id.slice(0, 12)).join(' ')}`;
}
