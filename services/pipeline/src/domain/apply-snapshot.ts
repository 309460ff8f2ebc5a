import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Archive, findSnapshot, type Snapshot } from '@pullback/archive';
import type { ComponentConfig } from '../config/schema.js';
import type { InstancePosition, Recipe, RestoreTarget } from '../recipe.js';
import type { FallbackState } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { restoreWithTablespaces } from '../tablespaces/restore-with-tablespaces.js';
import { tablespaceMapOf } from '../tablespaces/tablespace-locations.js';
import { type DrillResult, drillHolder, drillSnapshot, recordSnapshotProof } from './drill-snapshot.js';
import { isPipelineError, messageOf, PipelineError } from './errors.js';
import { type FallbackVerdict, judgeFallback } from './fallback-verdict.js';
import { holdLock } from './hold-lock.js';
import { instanceLocation } from './instance-location.js';
import { type StepProgressListener, stepProgress } from './progress.js';
import { describeSnapshot } from './snapshot-description.js';

export interface ApplySnapshotInput {
  readonly component: string;
  readonly config: ComponentConfig;
  /** The fallback to restore. */
  readonly instance: string;
  readonly epoch: number;
  readonly snapshotId: string;
  readonly archive: Archive;
  readonly recipe: Recipe;
  readonly registry: Registry;
  /**
   * The active the restored fallback follows while it can reach it. Default: the
   * component's live active, as configured.
   */
  readonly upstream?: RestoreTarget['upstream'] | null;
  /** Fetches archived WAL (postgres `restore_command`). Default: none. */
  readonly restoreCommand?: string;
  /** The agent keeps the recipe's `walSpool` filled (`startWalPrefetch`): the fallback replays from it. Default: false. */
  readonly archivedWal?: boolean;
  /** Called once the snapshot is restored, right before the fallback starts (the agent's prefetch gets a head start). */
  readonly beforeStart?: () => Promise<void>;
  /**
   * Where restore drills put their scratch directory. Default: next to the fallback's
   * data directory (the same disk, reachable by the server's account).
   */
  readonly drillDir?: string;
  /** The fallback's lock TTL in ms, renewed while restoring. Default: 60 000. */
  readonly lockTtlMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
}

export type ApplySnapshotResult =
  | {
      readonly applied: true;
      /** Restored in place over an older tree. */
      readonly delta: boolean;
      /** Left running (a healthy fallback follows the active): nothing was restored onto it. */
      readonly followed: boolean;
      /** Why it was restored instead (`judgeFallback`). */
      readonly reseeded?: string;
      readonly position: InstancePosition;
      /** The snapshot's restore drill, when this import ran it (followed fallbacks only). */
      readonly drill?: DrillResult;
    }
  | { readonly applied: false; readonly skipped: 'superseded' | 'already-applied'; readonly reason: string };

/**
 * The import step: brings fallback `instance` to snapshot `snapshotId` and leaves
 * it in service (postgres: a running, read-only hot standby), then reports where it
 * stands. Skipped when a newer snapshot is already applied to it or queued for it
 * (supersession), or when this one is applied and the fallback is running.
 *
 * A healthy fallback that follows the active, and can go on doing so from the active
 * or the archive, is not rewound (`judgeFallback`): the snapshot is only recorded as
 * the one it is at, and proven by a restore drill into a scratch directory, once per
 * snapshot across agents (`drillSnapshot`). Any other is reseeded: the recipe stops
 * what runs (`beforeRestore`), the archive restores the snapshot (in place, as a
 * delta, when the data directory holds a tree already), the recipe starts and checks
 * it (`afterRestore`). A snapshot that fails to restore or start is flagged bad in
 * the registry with the reason (it stays good once it started on some fallback); a
 * fallback that started proves the snapshot good, and no drill is needed.
 */
export async function applySnapshot(input: ApplySnapshotInput): Promise<ApplySnapshotResult> {
  const { component, instance, epoch, snapshotId, registry, recipe } = input;
  const what = `import of ${snapshotId.slice(0, 12)} into ${instance}`;
  await registry.assertEpoch(component, epoch, what);
  const record = await registry.instance(instance);
  if (record === undefined || record.component !== component || record.role !== 'fallback') {
    throw new PipelineError(
      'not-a-fallback',
      `${what}: ${instance} is not a fallback of ${component}${record === undefined ? '' : ` (it is ${record.role} of ${record.component})`}`,
    );
  }
  const location = instanceLocation(input.config, instance);
  if (location === undefined) {
    throw new PipelineError('not-a-fallback', `${what}: ${instance} is not in the config of ${component}`);
  }

  const snapshot = await findSnapshot(input.archive, snapshotId, { signal: input.signal });
  const { component: owner, kind } = describeSnapshot(snapshot);
  if (owner !== component) {
    throw new PipelineError('not-a-fallback', `${what}: snapshot ${snapshotId} is not of ${component}`);
  }
  if (!recipe.importKinds.includes(kind)) {
    throw new PipelineError(
      'not-a-fallback',
      `${what}: a ${kind} snapshot cannot be restored onto a fallback`,
    );
  }
  const skip = await supersession(input, snapshot, record.state);
  if (skip !== undefined) return skip;

  const description = describeSnapshot(snapshot);
  const outcome = await holdLock(
    registry,
    `import.${instance}`,
    { ttlMs: input.lockTtlMs ?? 60_000, what, ...(input.signal ? { signal: input.signal } : {}) },
    async (signal): Promise<ApplySnapshotResult> => {
      const upstream = input.upstream === undefined ? await activeUpstream(input) : input.upstream;
      const base = { snapshotId, snapshotTime: snapshot.time };
      const report = (state: Omit<FallbackState, 'updatedAt'>) =>
        registry.reportFallback(component, instance, epoch, {
          ...state,
          updatedAt: new Date().toISOString(),
        });

      let now: InstancePosition | undefined;
      let unanswered: string | undefined;
      try {
        now = await recipe.position?.(location, {
          signal,
          ...(upstream === null || upstream === undefined ? {} : { upstream }),
        });
      } catch (error) {
        if (signal.aborted) throw error;
        // Running but not answering, and not on its way up: broken.
        unanswered = `it does not answer: ${messageOf(error)}`;
      }
      const target: RestoreTarget = {
        component,
        instance: location,
        ...(upstream === null || upstream === undefined ? {} : { upstream }),
        ...(input.restoreCommand === undefined ? {} : { restoreCommand: input.restoreCommand }),
        ...(input.archivedWal === true ? { archivedWal: true } : {}),
        signal,
      };
      let verdict: FallbackVerdict =
        unanswered !== undefined
          ? { follow: false, why: unanswered }
          : await judgeFallback({
              component,
              position: now,
              state: (await registry.instance(instance))?.state,
              snapshot: description,
              archive: input.archive,
              signal,
            });
      if (verdict.follow && now?.starting !== true && recipe.retarget !== undefined) {
        // It follows whoever is active now, with this agent's archived WAL; if it cannot be told so, it is reseeded.
        verdict = await recipe.retarget(target).then(
          () => verdict,
          (error: unknown) => ({ follow: false, why: messageOf(error) }),
        );
      }
      if (verdict.follow && now !== undefined) {
        await report({
          ...base,
          ...positionFields(now),
          healthy: now.starting !== true,
          ...(now.starting === true ? { reason: 'starting' } : {}),
        });
        return { applied: true, delta: false, followed: true, position: now };
      }

      await recipe.beforeRestore?.(target);
      await report({ ...base, healthy: false, running: false, reason: 'restoring' });
      let delta = false;
      let position: InstancePosition;
      try {
        delta = (await readdir(location.dataDir).catch(() => [])).length > 0;
        // Tablespaces go where the fallback's config says, else where they were on the active.
        const configured = input.config.instances.find((candidate) => candidate.name === instance);
        await restoreWithTablespaces(input.archive, snapshotId, {
          target: location.dataDir,
          delta,
          tablespaceMap: tablespaceMapOf(configured?.tablespaces),
          signal,
          onProgress: (progress) => input.onProgress?.(stepProgress('restore', progress, snapshotId)),
        });
        input.onProgress?.({ stage: 'start', bytesDone: 0, detail: instance });
        await input.beforeStart?.();
        position = (await recipe.afterRestore?.(target)) ?? { running: false };
      } catch (error) {
        const reason = messageOf(error);
        await report({ ...base, healthy: false, running: false, reason }).catch(() => {});
        // An interrupted restore says nothing about the snapshot, nor does a tablespace
        // location taken on this fallback.
        if (!signal.aborted && !isPipelineError(error, 'tablespace-location')) {
          await registry
            .markSnapshot(component, snapshotId, {
              state: 'bad',
              instance,
              reason,
              at: new Date().toISOString(),
            })
            .catch(() => {});
        }
        throw error;
      }
      await report({ ...base, healthy: true, ...positionFields(position) });
      await registry.markSnapshot(component, snapshotId, {
        state: 'good',
        instance,
        at: new Date().toISOString(),
      });
      // The fallback's start proved the snapshot: no drill of it is needed any more.
      if (recipe.afterRestore !== undefined) {
        await recordSnapshotProof({ ...input, signal }, drillHolder(instance));
      }
      return {
        applied: true,
        delta,
        followed: false,
        ...(verdict.follow ? {} : { reseeded: verdict.why }),
        position,
      };
    },
  );
  if (!outcome.applied || !outcome.followed) return outcome;
  // Outside the fallback's lock: the drill does not touch the fallback.
  const drill = await drillSnapshot({
    component,
    instance,
    snapshotId,
    snapshot: description,
    archive: input.archive,
    recipe,
    registry,
    scratchDir: input.drillDir ?? dirname(location.dataDir),
    ...(input.signal === undefined ? {} : { signal: input.signal }),
  });
  return { ...outcome, drill };
}

/** The fields of a fallback's state a position gives. */
function positionFields(position: InstancePosition): Omit<FallbackState, 'healthy' | 'updatedAt'> {
  return {
    running: position.running,
    ...(position.lsn === undefined ? {} : { lsn: position.lsn }),
    ...(position.replayedAt === undefined ? {} : { replayedAt: position.replayedAt }),
    ...(position.source === undefined ? {} : { source: position.source }),
    ...(position.timeline === undefined ? {} : { timeline: position.timeline }),
    ...(position.behindBytes === undefined ? {} : { behindBytes: position.behindBytes }),
  };
}

/** Why this import is not needed, or undefined when it is. */
async function supersession(
  input: ApplySnapshotInput,
  snapshot: Snapshot,
  state: FallbackState | undefined,
): Promise<ApplySnapshotResult | undefined> {
  const time = Date.parse(snapshot.time);
  const queued = await input.registry.queuedSnapshotTime(input.instance);
  if (queued !== undefined && queued > time) {
    return { applied: false, skipped: 'superseded', reason: 'a newer snapshot is queued for this fallback' };
  }
  if (state?.healthy && state.snapshotTime !== undefined && Date.parse(state.snapshotTime) > time) {
    return { applied: false, skipped: 'superseded', reason: 'the fallback holds a newer snapshot' };
  }
  if (state?.healthy && state.snapshotId === snapshot.id) {
    // Applied before; if it has stopped since, apply it again (it catches up from there).
    const position = await input.recipe.position?.(
      instanceLocation(input.config, input.instance) ?? { host: '', port: 0, dataDir: '' },
      input.signal === undefined ? {} : { signal: input.signal },
    );
    if (position === undefined || position.running) {
      return { applied: false, skipped: 'already-applied', reason: 'the fallback holds this snapshot' };
    }
  }
  return undefined;
}

/** The live active's address, for a fallback to stream from. */
async function activeUpstream(input: ApplySnapshotInput): Promise<RestoreTarget['upstream'] | undefined> {
  const active = (await input.registry.component(input.component))?.active;
  if (active === undefined) return undefined;
  const location = instanceLocation(input.config, active);
  return location === undefined ? undefined : { host: location.host, port: location.port };
}
