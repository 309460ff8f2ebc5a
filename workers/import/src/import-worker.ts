import { type Archive, listSnapshots } from '@pullback/archive';
import {
  type ApplySnapshotResult,
  applySnapshot,
  type ComponentConfig,
  type Config,
  closeWorkers,
  describeSnapshot,
  importJobId,
  importQueueName,
  instanceLocation,
  messageOf,
  type Pipeline,
  PipelineError,
  type Recipe,
  type RunningWorker,
  reportWorkerErrors,
  runJob,
  startPeriodicTask,
} from '@pullback/pipeline';
import { Worker } from 'bullmq';

export interface ImportWorkerOptions {
  /** The pipeline's queues and registry (`openPipeline`). */
  readonly pipeline: Pipeline;
  readonly config: Config;
  /** The archive, open with its key. */
  readonly archive: Archive;
  /** The recipe of a component. */
  readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
  /**
   * The instances this agent runs next to; it listens on each one's import queue
   * (an instance that is active now gets no imports, and refuses any). Default: every
   * instance in the config.
   */
  readonly instances?: readonly string[];
  /**
   * On start, queue the component's newest snapshot for each of these fallbacks that
   * does not hold it healthy: a fallback whose agent was down catches up when it
   * returns, even after its imports ran out of attempts. Default: true.
   */
  readonly catchUp?: boolean;
  /** How often running fallbacks report their position (LSN, replay time), in ms; 0 for never. Default: 30 000. */
  readonly positionIntervalMs?: number;
  /** A fallback's restore lock TTL in ms. Default: 60 000. */
  readonly lockTtlMs?: number;
}

/** What a finished import job returns. */
export type ImportJobResult =
  | { readonly applied: true; readonly delta: boolean; readonly lsn?: string }
  | { readonly applied: false; readonly skipped: string; readonly reason: string };

/**
 * The import agent: one BullMQ worker per fallback it serves, on that fallback's
 * import queue. Each job brings the fallback to a snapshot (`applySnapshot`),
 * skipping snapshots superseded while it was busy or away, and leaves it in service
 * as a read-only hot standby that reports its position to the registry.
 */
export async function startImportWorker(options: ImportWorkerOptions): Promise<RunningWorker> {
  const { pipeline, config } = options;
  const served =
    options.instances ?? Object.values(config.components).flatMap((c) => c.instances.map((i) => i.name));
  const placed = served.flatMap((instance) => {
    const entry = Object.entries(config.components).find(([, c]) =>
      c.instances.some((i) => i.name === instance),
    );
    return entry === undefined ? [] : [{ instance, name: entry[0], component: entry[1] }];
  });

  const workers = placed.map(
    ({ instance, name, component }) =>
      new Worker(
        importQueueName(instance),
        (job, token, signal) =>
          runJob(
            'import',
            job,
            token,
            signal,
            { registry: pipeline.registry },
            async ({ data, signal: aborted, onProgress }) => {
              if (data.instance !== instance || data.component !== name) {
                throw new PipelineError(
                  'not-a-fallback',
                  `import of ${data.snapshotId.slice(0, 12)}: queued for ${instance} of ${name}, names ${data.instance} of ${data.component}`,
                );
              }
              const result = await applySnapshot({
                component: name,
                config: component,
                instance,
                epoch: data.epoch,
                snapshotId: data.snapshotId,
                archive: options.archive,
                recipe: options.recipeFor(component, name),
                registry: pipeline.registry,
                ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
                signal: aborted,
                onProgress,
              });
              return resultOf(result);
            },
          ),
        // One restore at a time per fallback.
        { ...pipeline.queueOptions, concurrency: 1 },
      ),
  );
  for (const [index, worker] of workers.entries()) {
    reportWorkerErrors(worker, pipeline.onError, `import worker of ${placed[index]?.instance}`);
  }

  if (options.catchUp ?? true) {
    for (const { instance, name, component } of placed) {
      // Best effort: the next snapshot reaches the fallback anyway.
      await catchUp(options, instance, name, component).catch((error: Error) =>
        pipeline.onError(error, `catch-up of ${instance}`),
      );
    }
  }

  const intervalMs = options.positionIntervalMs ?? 30_000;
  const positions =
    intervalMs > 0
      ? startPeriodicTask(
          intervalMs,
          async (signal) => {
            for (const { instance, name, component } of placed) {
              if (signal.aborted) return;
              await reportPosition(options, instance, name, component, signal).catch((error: Error) => {
                if (!signal.aborted) pipeline.onError(error, `position of ${instance}`);
              });
            }
          },
          (error) => pipeline.onError(error, 'position reports'),
        )
      : undefined;

  return {
    workers,
    close: async (closeOptions) => {
      // Stopped and its round ended first: the caller closes the connection it uses next.
      await positions?.stop();
      await closeWorkers(workers, closeOptions);
    },
  };
}

function resultOf(result: ApplySnapshotResult): ImportJobResult {
  if (!result.applied) return { applied: false, skipped: result.skipped, reason: result.reason };
  return { applied: true, delta: result.delta, ...(result.position.lsn ? { lsn: result.position.lsn } : {}) };
}

const PENDING_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/** Queues the newest importable snapshot for a fallback that does not hold it healthy. */
async function catchUp(
  options: ImportWorkerOptions,
  instance: string,
  name: string,
  component: ComponentConfig,
): Promise<void> {
  const { registry } = options.pipeline;
  const record = await registry.instance(instance);
  const componentRecord = await registry.component(name);
  if (record?.role !== 'fallback' || componentRecord === undefined) return;
  const kinds = options.recipeFor(component, name).importKinds;
  const newest = (await listSnapshots(options.archive, { component: name }))
    .filter((snapshot) => kinds.includes(describeSnapshot(snapshot).kind))
    .at(-1);
  if (newest === undefined) return;
  if (record.state?.healthy && record.state.snapshotId === newest.id) return;
  // Its import is still pending: it will run now that the agent is back.
  const pending = await options.pipeline.importQueue(instance).getJob(importJobId(instance, newest.id));
  if (pending !== undefined && PENDING_STATES.has(await pending.getState())) return;
  await registry.queueSnapshot(instance, newest.id, newest.time);
  await options.pipeline.enqueueImport(
    { component: name, instance, epoch: componentRecord.epoch, snapshotId: newest.id },
    { catchUp: true },
  );
}

const REPORTED_REASONS = new Set(['not running', 'not in recovery']);
/** Prefix of the reason this reporter sets when it cannot ask the server where it is. */
const UNREACHABLE = 'not reachable: ';

/** A reason this reporter set itself, so that its next round may clear or change it. */
function reportedByPosition(reason: string | undefined): boolean {
  return REPORTED_REASONS.has(reason ?? '') || (reason ?? '').startsWith(UNREACHABLE);
}

/** Refreshes a healthy fallback's position (LSN, replay time), or marks it unhealthy when it stopped. */
async function reportPosition(
  options: ImportWorkerOptions,
  instance: string,
  name: string,
  component: ComponentConfig,
  signal: AbortSignal,
): Promise<void> {
  const { registry } = options.pipeline;
  const record = await registry.instance(instance);
  const state = record?.state;
  const recipe = options.recipeFor(component, name);
  const location = instanceLocation(component, instance);
  if (record?.role !== 'fallback' || state === undefined || recipe.position === undefined || !location)
    return;
  // Only states this reporter set are refreshed: a restore reports for itself, and a
  // failed one keeps its reason until the next restore.
  if (!state.healthy && !reportedByPosition(state.reason)) return;
  const epoch = (await registry.component(name))?.epoch;
  if (epoch === undefined) return;
  let update: typeof state;
  try {
    const position = await recipe.position(location, { signal });
    const { lsn: _lsn, replayedAt: _replayedAt, reason: _reason, ...rest } = state;
    update = {
      ...rest,
      running: position.running,
      healthy: position.running && position.inRecovery !== false,
      ...(position.running ? {} : { reason: 'not running' }),
      ...(position.running && position.inRecovery === false ? { reason: 'not in recovery' } : {}),
      ...(position.lsn === undefined ? {} : { lsn: position.lsn }),
      ...(position.replayedAt === undefined ? {} : { replayedAt: position.replayedAt }),
      updatedAt: new Date().toISOString(),
    };
  } catch (error) {
    // Stopped with the worker: the server was not asked to the end, so there is nothing to say.
    if (signal.aborted) return;
    // A server caught shutting down answers with an error: the next round, which finds
    // it stopped, must still be able to say so, hence a reason of this reporter's own.
    update = {
      ...state,
      healthy: false,
      reason: `${UNREACHABLE}${messageOf(error)}`,
      updatedAt: new Date().toISOString(),
    };
  }
  // The position query takes a while, and a restore may have reported a new snapshot
  // meanwhile: writing this update (built on the older state) would roll it back.
  // Re-reading narrows that window to the two Redis round trips below.
  if (signal.aborted) return;
  const now = (await registry.instance(instance))?.state;
  if (now?.snapshotId !== state.snapshotId || now?.updatedAt !== state.updatedAt) return;
  await registry.reportFallback(name, instance, epoch, update);
}
