import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Archive } from '@pullback/archive';
import {
  type ArtifactKind,
  type ComponentConfig,
  type Config,
  closeWorkers,
  describeSnapshot,
  type ForgetSnapshots,
  jobWarnings,
  type Outbox,
  type Pipeline,
  PULL_QUEUE,
  type PullArtifactResult,
  pullArtifact,
  pullComponent,
  type Recipe,
  type RunningWorker,
  startJobWorker,
  startWalReceivers,
  type WalReceiverOptions,
  walArchiveOf,
} from '@pullback/pipeline';
import { openBackend } from '@pullback/storage';
import { startLogicalDrills } from './logical-drills.js';
import { startWalGapChecks } from './wal-gap-checks.js';

export interface PullWorkerOptions {
  /** The pipeline's queues and registry (`openPipeline`). */
  readonly pipeline: Pipeline;
  readonly config: Config;
  /** The archive, open with its key. */
  readonly archive: Archive;
  /** Where artifacts are staged while they are ingested (see `IngestArtifactInput.stagingDir`). */
  readonly stagingDir: string;
  /** Opens an outbox URL. Default: `openBackend` (path, file://, s3://). */
  readonly openOutbox?: (url: string) => Outbox;
  /** The kinds a component's fallbacks restore (its recipe's `importKinds`). Default: physical. */
  readonly importKinds?: (component: ComponentConfig, name: string) => readonly ArtifactKind[];
  /** Applies retention (the archive's `forgetSnapshots`). Default: none, retention is only planned. */
  readonly forget?: ForgetSnapshots;
  /** Pulls run at once by this worker. Default: 1 (a 2-core archive keeper is busy with one). */
  readonly concurrency?: number;
  /**
   * Continuous WAL (docs/wal.md): this worker runs the WAL receiver of every postgres
   * component with `wal.enabled` while it holds the component's lease. Default: none.
   */
  readonly wal?: {
    /** The recipe of a component (its `streamWal`). */
    readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
    /** Where the spools are (`<stateDir>/wal/<component>/`). Default: the config's `stateDir`. */
    readonly stateDir?: string;
    /** Why a receiver restarts. Default: ignore. */
    readonly onError?: (error: Error, where: string) => void;
  } & Partial<
    Pick<
      WalReceiverOptions,
      'leaseTtlMs' | 'leaseRenewMs' | 'reportIntervalMs' | 'partialIntervalMs' | 'backoffMs' | 'holder'
    >
  >;
  /**
   * Restore drills of the logical snapshots this worker pulls (logical-drills.ts), with
   * the component's recipe (its `startAudit`). Default: none, logical snapshots stay unproven.
   */
  readonly drills?: {
    readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
    /** Where the scratch servers go. Default: `<tmpdir>/pullback-drills`. */
    readonly scratchDir?: string;
  };
  /**
   * How often the archive's WAL is checked for gaps that `status` shows (besides after
   * each pull of a component), in ms; 0: only after pulls. Default: 60 000.
   */
  readonly walGapIntervalMs?: number;
}

/** What a finished pull job returns: the pull's result, with the snapshot's id for the snapshot. */
export interface PullJobResult extends Omit<PullArtifactResult, 'snapshot'> {
  readonly snapshotId: string;
}

/**
 * The pull-backup worker: a BullMQ worker on the pull queue. Each job ingests a
 * complete artifact into the archive (`pullArtifact`), which then queues one import
 * per fallback (physical snapshots only). Any number of them can run, on any machine
 * that reaches the outbox and the archive. With `wal`, it also streams the components'
 * WAL into the archive; with `drills`, it proves the logical snapshots it pulls.
 */
export function startPullWorker(options: PullWorkerOptions): RunningWorker {
  const { pipeline, config } = options;
  const openOutbox = options.openOutbox ?? ((url: string) => openBackend(url));
  const gapChecks = startWalGapChecks({
    pipeline,
    config,
    archive: options.archive,
    intervalMs: options.walGapIntervalMs ?? 60_000,
  });
  const drills =
    options.drills === undefined
      ? undefined
      : startLogicalDrills({
          pipeline,
          archive: options.archive,
          recipeFor: options.drills.recipeFor,
          scratchDir: options.drills.scratchDir ?? join(tmpdir(), 'pullback-drills'),
        });
  const worker = startJobWorker(
    pipeline,
    PULL_QUEUE,
    'pull',
    { name: 'pull-backup worker', concurrency: options.concurrency ?? 1 },
    async ({ data, signal: aborted, onProgress }, job): Promise<PullJobResult> => {
      const component = pullComponent(config, data);
      const importKinds = options.importKinds?.(component, data.component);
      const started = performance.now();
      const { snapshot, ...result } = await pullArtifact({
        component: data.component,
        config: component,
        exportId: data.exportId,
        epoch: data.epoch,
        outbox: openOutbox(data.outbox),
        archive: options.archive,
        stagingDir: options.stagingDir,
        registry: pipeline.registry,
        enqueueImport: async (importJob) => {
          await pipeline.enqueueImport(importJob);
        },
        ...(importKinds === undefined ? {} : { importKinds }),
        ...(options.forget === undefined ? {} : { forget: options.forget }),
        signal: aborted,
        onProgress,
        onWarning: jobWarnings(pipeline.logger, job),
      });
      // A retried pull that found its snapshot committed ingested nothing: not a pull to measure.
      if (!result.reused) {
        pipeline.metrics?.jobs.observe('pull', {
          component: data.component,
          seconds: (performance.now() - started) / 1000,
          bytes: snapshot.stats.logicalBytes,
        });
      }
      // The pull's retention may have dropped WAL: status shows the gaps as they are now.
      await gapChecks.checkComponent(data.component, aborted);
      // Also after a retried pull: the drill's claim makes it run once.
      if (describeSnapshot(snapshot).kind === 'logical') drills?.drill(data.component, component, snapshot);
      return { snapshotId: snapshot.id, ...result };
    },
  );
  const { wal } = options;
  const receivers =
    wal === undefined
      ? undefined
      : startWalReceivers({
          ...wal,
          registry: pipeline.registry,
          config,
          archive: walArchiveOf(options.archive),
          stateDir: wal.stateDir ?? config.stateDir,
        });
  return {
    workers: [worker],
    close: async (closeOptions) => {
      // The receivers stop cleanly either way: pg_receivewal flushes, the spool is stored.
      await Promise.all([
        closeWorkers([worker], closeOptions),
        receivers?.stop(),
        gapChecks.stop(),
        drills?.stop(),
      ]);
    },
  };
}
