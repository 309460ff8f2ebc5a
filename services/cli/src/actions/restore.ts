import { DamagedRestoreError, findSnapshot } from '@pullback/archive';
import {
  parseTablespaceMap,
  type RecoveryTarget,
  restoreWithTablespaces,
  type TablespaceMap,
} from '@pullback/pipeline';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { formatBytes, progressDisplay } from '../progress-display.js';

export interface RestoreOptions extends ArchiveFlags {
  readonly target: string;
  readonly component?: string;
  /** Point in time to recover to (PostgreSQL components); or a WAL position, restore point, transaction. */
  readonly at?: Date;
  readonly lsn?: string;
  readonly name?: string;
  readonly xid?: string;
  /** With a point in time: promote there instead of pausing. */
  readonly promote?: boolean;
  readonly delta?: boolean;
  /** Start PostgreSQL read-only on the restored directory; `port` is then set. */
  readonly start?: boolean;
  readonly port?: number;
  /** `--tablespace-map OLD=NEW` arguments. */
  readonly tablespaceMap?: readonly string[];
}

/** `pullback restore <snapshot-id|latest>`: writes a snapshot out to a directory. */
export async function restore(
  snapshotArgument: string | undefined,
  options: RestoreOptions,
  context: CommandContext,
): Promise<void> {
  const recoveryTarget = recoveryTargetOf(options);
  const tablespaceMap = tablespaceMapOf(options);
  const { archive } = await openArchiveFromFlags(options, context);
  if (recoveryTarget !== undefined) {
    if (options.component === undefined) throw new CliError('a point-in-time restore needs --component C');
    // Loaded here: it brings the recipes, which plain restores do without.
    const { restoreToPoint } = await import('./restore-to-point.js');
    return restoreToPoint(
      archive,
      {
        component: options.component,
        target: options.target,
        recoveryTarget,
        ...(snapshotArgument === undefined ? {} : { snapshot: snapshotArgument }),
        delta: options.delta ?? false,
        promote: options.promote ?? false,
        tablespaceMap,
        ...(options.start ? { port: options.port ?? 0 } : {}),
      },
      context,
    );
  }
  if (snapshotArgument === undefined) throw new CliError('give a snapshot id or "latest"');
  const snapshot = snapshotArgument;
  // The archive's findSnapshot resolves the reference, in the component when one is named.
  const scope = { component: options.component, signal: context.signal };
  const progress = progressDisplay(context, 'restore');
  try {
    if (options.start) {
      const found = await findSnapshot(archive, snapshot, scope);
      // Loaded here: it brings the PostgreSQL recipe, which plain restores do without.
      const { startAuditServer } = await import('../audit-server.js');
      const server = await startAuditServer(archive, found, {
        target: options.target,
        port: options.port ?? 0,
        tablespaceMap,
        onProgress: progress.update,
        signal: context.signal,
      });
      progress.stop();
      const say = (line: string) => context.stdout.write(`${line}\n`);
      say(
        `restored snapshot ${found.id.slice(0, 12)} (${found.tags.component ?? 'no component'}, ${found.time}) into ${options.target}`,
      );
      say(
        server.kind === 'physical'
          ? `PostgreSQL runs read-only (a standby with no upstream) on port ${server.port}, pid ${server.pid ?? '?'}`
          : `logical dumps of ${server.databases?.join(', ') || 'no database'} restored into a scratch server on port ${server.port}, pid ${server.pid ?? '?'}`,
      );
      say(`connect: ${server.connect}`);
      say(`stop:    ${server.stopCommand}`);
      return;
    }
    const result = await restoreWithTablespaces(archive, snapshot, {
      ...scope,
      target: options.target,
      tablespaceMap,
      delta: options.delta ?? false,
      onProgress: progress.update,
    }).catch((error: unknown) => {
      if (error instanceof DamagedRestoreError) {
        progress.stop();
        reportDamage(error, options.target, context);
      }
      throw error;
    });
    progress.stop();
    const kept = options.delta
      ? `, ${formatBytes(result.bytesKept)} already in place, ${result.removed} removed`
      : '';
    context.stdout.write(
      `restored snapshot ${result.snapshot.id.slice(0, 12)} into ${options.target}: ${result.files} files, ` +
        `${formatBytes(result.bytesWritten)} written${kept}\n`,
    );
  } finally {
    progress.stop();
  }
}

/** The `--tablespace-map` arguments as a map; a location given twice fails in one line. */
function tablespaceMapOf(options: RestoreOptions): TablespaceMap {
  try {
    return parseTablespaceMap(options.tablespaceMap ?? []);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}

/** The point in time the options name, if any (the command allows one). */
function recoveryTargetOf(options: RestoreOptions): RecoveryTarget | undefined {
  if (options.at !== undefined) return { kind: 'time', time: options.at.toISOString() };
  if (options.lsn !== undefined) return { kind: 'lsn', lsn: options.lsn };
  if (options.name !== undefined) return { kind: 'name', name: options.name };
  if (options.xid !== undefined) return { kind: 'xid', xid: options.xid };
  return undefined;
}

/**
 * What a restore that met damaged data left: one line per file left out (removed from
 * the target, not left as zeros), then the count of what was restored.
 */
function reportDamage(error: DamagedRestoreError, target: string, context: CommandContext): never {
  for (const file of error.damaged) {
    context.stderr.write(`pullback: damaged, not restored: ${file.path}: ${file.reason}\n`);
  }
  throw new CliError(
    `restore of snapshot ${error.snapshot.slice(0, 12)} into ${target} is incomplete: ` +
      `${error.filesRestored} files restored, ${error.damaged.length} damaged files not restored; ` +
      'HINT: run `pullback verify --read-data`',
  );
}
