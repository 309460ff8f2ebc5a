import type { Archive } from '@pullback/archive';
import {
  type ApplySnapshotResult,
  applySnapshot,
  archiveWalFetch,
  type ComponentConfig,
  type Config,
  catchUpFallback,
  closeWorkers,
  importQueueName,
  instanceLocation,
  type Pipeline,
  PipelineError,
  type Recipe,
  type RunningWorker,
  reportFallbackPosition,
  startJobWorker,
  startPeriodicTask,
  startWalPrefetch,
  type WalPrefetch,
} from '@pullback/pipeline';
import { queueAskedReseed } from './asked-reseed.js';

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
  /**
   * How often running fallbacks report their position (LSN, replay time, source, lag),
   * and a fallback its agent reported as needing a reseed gets the newest snapshot
   * (asked-reseed.ts), in ms; 0 for never. Default: 5 000.
   */
  readonly positionIntervalMs?: number;
  /**
   * Fallbacks whose recipe has a WAL spool replay archived WAL through it: this agent
   * answers their restore command and fetches ahead (`startWalPrefetch`). Default: true.
   */
  readonly archivedWal?: boolean;
  /** Segments fetched ahead per fallback. Default: 8. */
  readonly walAhead?: number;
  /** Where restore drills put their scratch directory. Default: next to the fallback's data directory. */
  readonly drillDir?: string;
  /** A fallback's restore lock TTL in ms. Default: 60 000. */
  readonly lockTtlMs?: number;
}

/** What a finished import job returns. */
export type ImportJobResult =
  | {
      readonly applied: true;
      readonly delta: boolean;
      /** Left running, following the active; the snapshot was proven by a drill instead (when this job ran it). */
      readonly followed: boolean;
      /** Why it was restored rather than left running. */
      readonly reseeded?: string;
      readonly drill?: string;
      readonly lsn?: string;
    }
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

  // Each fallback's restore command is answered while this agent runs (docs/wal.md "Fallbacks").
  const prefetches = new Map<string, WalPrefetch>();
  if (options.archivedWal ?? true) {
    for (const { instance, name, component } of placed) {
      const recipe = options.recipeFor(component, name);
      const location = instanceLocation(component, instance);
      if (recipe.walSpool === undefined || location === undefined) continue;
      const spool = () => recipe.walSpool!(location);
      prefetches.set(
        instance,
        startWalPrefetch({
          dir: (await spool()).dir,
          fetch: archiveWalFetch(options.archive, name, spool),
          ...(options.walAhead === undefined ? {} : { ahead: options.walAhead }),
          ...(component.recipe === 'postgres' && component.wal.spares > 0
            ? { spares: component.wal.spares }
            : {}),
          onError: (error) => pipeline.onError(error, `archived WAL of ${instance}`),
        }),
      );
    }
  }

  /**
   * A restored fallback is about to start: its prefetch fetches from where recovery
   * will begin while the server starts. Only a help: a spool that cannot say leaves
   * the prefetch to the first ask.
   */
  const expectRecovery = async (instance: string, name: string, component: ComponentConfig) => {
    const prefetch = prefetches.get(instance);
    const location = instanceLocation(component, instance);
    const walSpool = options.recipeFor(component, name).walSpool;
    if (prefetch === undefined || location === undefined || walSpool === undefined) return;
    const start = await walSpool(location).then(
      (spool) => spool.recoveryStart,
      () => undefined,
    );
    if (start !== undefined) prefetch.expect(start.segment, start.segmentSize);
  };

  const workers = placed.map(({ instance, name, component }) =>
    startJobWorker(
      pipeline,
      importQueueName(instance),
      'import',
      // One restore at a time per fallback.
      { name: `import worker of ${instance}`, concurrency: 1 },
      async ({ data, signal: aborted, onProgress }) => {
        if (data.instance !== instance || data.component !== name) {
          throw new PipelineError(
            'not-a-fallback',
            `import of ${data.snapshotId.slice(0, 12)}: queued for ${instance} of ${name}, names ${data.instance} of ${data.component}`,
          );
        }
        const started = performance.now();
        // The bytes the restore wrote, from its progress (none when the fallback follows the active).
        let restoredBytes: number | undefined;
        const result = await applySnapshot({
          component: name,
          config: component,
          instance,
          epoch: data.epoch,
          snapshotId: data.snapshotId,
          archive: options.archive,
          recipe: options.recipeFor(component, name),
          registry: pipeline.registry,
          ...(prefetches.has(instance)
            ? { archivedWal: true, beforeStart: () => expectRecovery(instance, name, component) }
            : {}),
          ...(options.drillDir === undefined ? {} : { drillDir: options.drillDir }),
          ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
          signal: aborted,
          onProgress: (progress) => {
            if (progress.stage === 'restore')
              restoredBytes = Math.max(restoredBytes ?? 0, progress.bytesDone);
            onProgress(progress);
          },
        });
        if (result.applied) {
          pipeline.metrics?.jobs.observe('import', {
            component: name,
            instance,
            seconds: (performance.now() - started) / 1000,
            ...(restoredBytes === undefined ? {} : { bytes: restoredBytes }),
          });
        }
        return resultOf(result);
      },
    ),
  );

  if (options.catchUp ?? true) {
    for (const { instance, name, component } of placed) {
      // Best effort: the next snapshot reaches the fallback anyway.
      await catchUpFallback({
        component: name,
        instance,
        archive: options.archive,
        recipe: options.recipeFor(component, name),
        registry: pipeline.registry,
        isImportPending: (snapshotId) => pipeline.isImportPending(instance, snapshotId),
        enqueueImport: async (job) => {
          await pipeline.enqueueImport(job, { catchUp: true });
        },
      }).catch((error: Error) => pipeline.onError(error, `catch-up of ${instance}`));
    }
  }

  const intervalMs = options.positionIntervalMs ?? 5_000;
  const reseedsAsked = new Map<string, string>();
  const positions =
    intervalMs > 0
      ? startPeriodicTask(
          intervalMs,
          async (signal) => {
            for (const { instance, name, component } of placed) {
              if (signal.aborted) return;
              await reportFallbackPosition({
                component: name,
                config: component,
                instance,
                recipe: options.recipeFor(component, name),
                registry: pipeline.registry,
                signal,
              }).catch((error: Error) => {
                if (!signal.aborted) pipeline.onError(error, `position of ${instance}`);
              });
              await queueAskedReseed({
                component: name,
                instance,
                archive: options.archive,
                recipe: options.recipeFor(component, name),
                registry: pipeline.registry,
                isImportPending: (snapshotId) => pipeline.isImportPending(instance, snapshotId),
                enqueueImport: async (job) => {
                  await pipeline.enqueueImport(job, { catchUp: true });
                },
                seen: reseedsAsked,
              }).catch((error: Error) => {
                if (!signal.aborted) pipeline.onError(error, `reseed of ${instance}`);
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
      await Promise.all([...prefetches.values()].map((prefetch) => prefetch.stop()));
    },
  };
}

function resultOf(result: ApplySnapshotResult): ImportJobResult {
  if (!result.applied) return { applied: false, skipped: result.skipped, reason: result.reason };
  const drill = result.drill;
  return {
    applied: true,
    delta: result.delta,
    followed: result.followed,
    ...(result.reseeded === undefined ? {} : { reseeded: result.reseeded }),
    ...(drill === undefined
      ? {}
      : { drill: drill.ran ? (drill.ok ? 'ok' : `failed: ${drill.reason}`) : drill.reason }),
    ...(result.position.lsn ? { lsn: result.position.lsn } : {}),
  };
}
