import { type Archive, DamagedRestoreError, findSnapshot, type Snapshot } from '@pullback/archive';
import {
  describeSnapshot,
  type RecoveryTarget,
  restoreWithTablespaces,
  type TablespaceMap,
} from '@pullback/pipeline';
import { builtInRecipe } from '@pullback/workers';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { componentReaches, physicalBases } from '../point-in-time/component-reach.js';
import { placeWal } from '../point-in-time/place-wal.js';
import {
  chooseReach,
  clock,
  describeRanges,
  describeTarget,
  segmentsToPlace,
  whyUnreachable,
} from '../point-in-time/reach.js';
import { ensurePortFree } from '../port-in-use.js';
import { formatBytes, progressDisplay } from '../progress-display.js';

export interface RestoreToPointOptions {
  readonly component: string;
  readonly target: string;
  readonly recoveryTarget: RecoveryTarget;
  /** A base snapshot chosen by the user instead of the newest one that reaches the target. */
  readonly snapshot?: string;
  readonly delta: boolean;
  readonly promote: boolean;
  readonly port?: number;
  /** Tablespaces moved (`--tablespace-map`). Default: each at its original location. */
  readonly tablespaceMap?: TablespaceMap;
}

/**
 * `restore --at/--lsn/--name/--xid` (docs/wal.md, "Point-in-time restore"): the newest
 * physical snapshot of the component that the archive's WAL joins to the target,
 * restored, with that WAL placed in pg_wal and recovery set to stop at the target.
 * Everything is decided before anything is written: a target out of reach is refused
 * with the ranges that can be reached.
 */
export async function restoreToPoint(
  archive: Archive,
  options: RestoreToPointOptions,
  context: CommandContext,
): Promise<void> {
  const { component, recoveryTarget } = options;
  const signal = context.signal;
  const bases = await physicalBases(archive, component, signal);
  if (bases.length === 0) {
    throw new CliError(`component ${component} has no physical snapshot to replay WAL from`);
  }
  const found = await componentReaches(archive, component, bases, signal);
  let reaches = found.reaches;
  if (options.snapshot !== undefined) {
    const chosen = await findSnapshot(archive, options.snapshot, { component, signal });
    reaches = reaches.filter((reach) => reach.base.id === chosen.id);
  }
  const reach = chooseReach(recoveryTarget, reaches);
  if (reach === undefined) {
    throw new CliError(
      `${describeTarget(recoveryTarget)} of ${component} cannot be reached: ${whyUnreachable(recoveryTarget, reaches, found.end)}; ` +
        `the archive can restore ${options.snapshot === undefined ? component : `snapshot ${options.snapshot}`} to ${describeRanges(reaches)}`,
    );
  }
  const snapshot: Snapshot = await findSnapshot(archive, reach.base.id, { component, signal });
  const recipe = builtInRecipe(describeSnapshot(snapshot).recipe ?? 'postgres');
  if (recipe?.restoreToPoint === undefined) {
    throw new CliError(`snapshot ${snapshot.id.slice(0, 12)} is not of a recipe that replays WAL`);
  }
  const segments = await segmentsToPlace(reach, recoveryTarget);
  if (options.port !== undefined) await ensurePortFree(options.port);

  const progress = progressDisplay(context, 'restore');
  let placed = { files: 0, bytes: 0 };
  try {
    const result = await recipe
      .restoreToPoint({
        snapshotId: snapshot.id,
        snapshot: describeSnapshot(snapshot),
        target: options.target,
        recoveryTarget,
        timeline: reach.wal.timeline,
        promote: options.promote,
        ...(options.port === undefined ? {} : { port: options.port }),
        restore: async (directory) => {
          await restoreWithTablespaces(archive, snapshot.id, {
            target: directory,
            delta: options.delta,
            ...(options.tablespaceMap === undefined ? {} : { tablespaceMap: options.tablespaceMap }),
            onProgress: progress.update,
            signal,
          });
        },
        placeWal: async (walDirectory) => {
          placed = await placeWal(
            archive,
            reach.wal.stream,
            { histories: reach.wal.histories, segments },
            walDirectory,
            { onProgress: progress.update, signal, segmentSize: reach.wal.segmentSize },
          );
        },
        signal,
      })
      .catch((error: unknown) => {
        if (error instanceof DamagedRestoreError) {
          throw new CliError(
            `restore of snapshot ${error.snapshot.slice(0, 12)} into ${options.target} is incomplete: ` +
              `${error.damaged.length} damaged files; HINT: run \`pullback verify --read-data\``,
          );
        }
        throw error;
      });
    progress.stop();
    const say = (line: string) => context.stdout.write(`${line}\n`);
    say(
      `restored snapshot ${snapshot.id.slice(0, 12)} (${component}, ${clock(snapshot.time)}) into ${options.target}, ` +
        `with ${placed.files} WAL files (${formatBytes(placed.bytes)}) to replay to ${describeTarget(recoveryTarget)}`,
    );
    const { server, reached } = result;
    if (server === undefined) {
      say(
        `recovery stops at the target and ${options.promote ? 'promotes' : 'pauses, read-only'}: start PostgreSQL on ${options.target} to replay`,
      );
      return;
    }
    const last = reached?.replayedAt === undefined ? '' : `, last transaction ${clock(reached.replayedAt)}`;
    say(
      options.promote
        ? `PostgreSQL replayed to ${reached?.lsn ?? '?'}${last} and was promoted: writable on timeline ${reached?.timeline ?? '?'}, port ${server.port}, pid ${server.pid ?? '?'}`
        : `PostgreSQL replayed to ${reached?.lsn ?? '?'}${last} and is paused there, read-only, on port ${server.port}, pid ${server.pid ?? '?'}`,
    );
    say(`connect: ${server.connect}`);
    say(`stop:    ${server.stopCommand}`);
  } finally {
    progress.stop();
  }
}
