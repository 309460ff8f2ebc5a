import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Archive, forgetSnapshots, openArchive } from '@pullback/archive';
import {
  type ComponentConfig,
  type Config,
  describeRestore,
  type ErrorReporter,
  guardRegistry,
  type JobRetryOptions,
  openPipeline,
  type PeriodicTask,
  type Pipeline,
  ProcessMetrics,
  type Recipe,
  type Redis,
  type RunningWorker,
  resolveArchiveKey,
} from '@pullback/pipeline';
import type { Logger } from '@pullback/pipeline/log';
import { type Backend, openBackend, type RetryEvent } from '@pullback/storage';
import {
  type ElectionOptions,
  type RunningElection,
  recordedOutsideRedis,
  startElection,
} from '@pullback/worker-election';
import { startExportWorker } from '@pullback/worker-export';
import { startImportWorker } from '@pullback/worker-import';
import { startPullWorker } from '@pullback/worker-pull-backup';
import { type BuiltInRecipeOptions, builtInRecipes, closeBuiltInRecipes } from './built-in-recipes.js';
import { recordedEpochs } from './recorded-epochs.js';

export interface StartAllOptions extends BuiltInRecipeOptions {
  /** Redis: an open connection (not closed by `close`). Default: one opened from the config's `redis`. */
  readonly redis?: Redis;
  /** Namespace of every Redis key. Default: `pullback`. */
  readonly prefix?: string;
  /** Which roles run here. Default: all four. */
  readonly roles?: {
    readonly export?: boolean;
    readonly pull?: boolean;
    readonly import?: boolean;
    readonly election?: boolean;
  };
  /** The election worker's holder, settings and log. Default: `<hostname>:<pid>`, the config's, `onNotice`. */
  readonly election?: Omit<ElectionOptions, 'pipeline'>;
  /** The instances this machine runs next to (exports and imports). Default: every instance in the config. */
  readonly instances?: readonly string[];
  /**
   * The archive, open. Default: opened from the config, if pull or import run here,
   * with the key `resolveArchiveKey` finds (the order every command uses).
   */
  readonly archive?: Archive;
  /** The `--key-file` flag, first in that order. Default: none. */
  readonly keyFile?: string;
  /** Where PULLBACK_KEY_FILE and PULLBACK_PASSWORD are read. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where pulls stage artifacts. Default: `<tmpdir>/pullback-staging`. */
  readonly stagingDir?: string;
  /** Where the WAL receivers' spools are (`<stateDir>/wal/<component>/`). Default: the config's `stateDir`. */
  readonly stateDir?: string;
  /** The recipe of a component. Default: the built-in recipes (`builtInRecipes`). */
  readonly recipeFor?: (component: ComponentConfig, name: string) => Recipe;
  /** Retries of failed jobs. Default: 5 attempts, exponential backoff from 10 s. */
  readonly retry?: JobRetryOptions;
  /** How long a job that cannot run now waits, in ms. Default: 5 000. */
  readonly laterDelayMs?: number;
  /** How often fallbacks report their position, in ms. Default: 5 000. */
  readonly positionIntervalMs?: number;
  /** How often pull-backup checks the archive's WAL for gaps (and after each pull), in ms; 0: only after pulls. Default: 60 000. */
  readonly walGapIntervalMs?: number;
  /**
   * How often this process checks, besides at each reconnection, that Redis still
   * holds the registry, in ms. Default: 10 000.
   */
  readonly registryCheckIntervalMs?: number;
  /** Errors that belong to no job (connections). Default: one line on stderr. */
  readonly onError?: ErrorReporter;
  /** What the process has to say that is no error (a restored registry), with the fields known. Default: one line on stderr. */
  readonly onNotice?: (line: string, fields?: Readonly<Record<string, unknown>>) => void;
  /** Where the workers log their jobs (services/pipeline/src/log). Default: nowhere. */
  readonly logger?: Logger;
  /** Stops everything when aborted (SIGINT/SIGTERM in `pullback up`); also cuts storage retries short. */
  readonly signal?: AbortSignal;
  /**
   * Told of each retry of an archive or outbox operation, as it happens (`retryLine`
   * makes it one log line). Default: none.
   */
  readonly onStorageRetry?: (event: RetryEvent, location: string) => void;
  /** The process's metrics (`/metrics`). Default: a new `ProcessMetrics`. */
  readonly metrics?: ProcessMetrics;
}

export interface RunningPipeline {
  readonly pipeline: Pipeline;
  /**
   * What `/metrics` serves: the jobs run here, and when the pull or election role
   * runs here, the pipeline as the registry and the archive see it.
   */
  readonly metrics: ProcessMetrics;
  /** The archive, when the pull or import role opened it here. */
  readonly archive?: Archive;
  readonly workers: readonly RunningWorker[];
  /** The election worker, when it runs here. */
  readonly election?: RunningElection;
  /**
   * Stops every worker (running jobs are aborted and retried later, unless
   * `graceful`), then the queues and the Redis connection. Safe to call twice.
   */
  close(options?: { graceful?: boolean }): Promise<void>;
  /** Settles once closed (by `close` or the signal). */
  readonly closed: Promise<void>;
}

/**
 * `pullback up`: every role in one process for a single machine. Registers the
 * config (components, instances at their initial roles and epoch 1 the first time,
 * or the highest epoch the archive's snapshots record, one export scheduler per
 * component), then starts the export, pull-backup and import workers and the
 * election worker (workers/election). The export
 * role never opens the archive. While it runs, it restores the registry whenever
 * Redis loses it (`guardRegistry`), and says so through `onNotice`.
 */
export async function startAll(config: Config, options: StartAllOptions = {}): Promise<RunningPipeline> {
  const metrics = options.metrics ?? new ProcessMetrics();
  const pipeline = openPipeline({
    metrics,
    redis: options.redis ?? config.redis,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const roles = { export: true, pull: true, import: true, election: true, ...options.roles };
  const workers: RunningWorker[] = [];
  let election: RunningElection | undefined;
  let guard: PeriodicTask | undefined;
  let closing: Promise<void> | undefined;
  let resolveClosed = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const close = (closeOptions: { graceful?: boolean } = {}) => {
    closing ??= (async () => {
      await guard?.stop();
      await Promise.allSettled(workers.map((worker) => worker.close(closeOptions)));
      await pipeline.close();
      await closeBuiltInRecipes();
      resolveClosed();
    })();
    return closing;
  };
  let archive: Archive | undefined;
  try {
    archive =
      roles.pull || roles.import
        ? (options.archive ?? (await openConfiguredArchive(config, options)))
        : undefined;
    // The whole picture comes from the pull side (or the election's host): one source per series.
    if (roles.pull || roles.election) {
      metrics.watch(pipeline, roles.pull && archive !== undefined ? { archive } : {});
    }
    // Without the archive (an export-only agent), another process brings the epochs up to what it records.
    const lowestEpochs = async () =>
      recordedOutsideRedis(config, archive === undefined ? {} : await recordedEpochs(archive));
    await pipeline.register(config, await lowestEpochs());
    const notice = options.onNotice ?? ((line: string) => process.stderr.write(`pullback: ${line}\n`));
    guard = guardRegistry(pipeline, config, {
      lowestEpochs,
      ...(options.registryCheckIntervalMs === undefined
        ? {}
        : { intervalMs: options.registryCheckIntervalMs }),
      onRestored: (restore) => notice(describeRestore(restore)),
      onError: (error) => pipeline.onError(error, 'registry check'),
    });
    const defaultRecipes = builtInRecipes(options);
    const recipeFor = options.recipeFor ?? ((component: ComponentConfig) => defaultRecipes(component));
    const instances = options.instances === undefined ? {} : { instances: options.instances };
    if (roles.export) {
      workers.push(
        startExportWorker({
          pipeline,
          config,
          recipeFor,
          ...instances,
          openOutbox: (url) => openStorage(url, options),
          ...(options.laterDelayMs === undefined ? {} : { laterDelayMs: options.laterDelayMs }),
        }),
      );
    }
    if (roles.pull && archive !== undefined) {
      workers.push(
        startPullWorker({
          pipeline,
          config,
          archive,
          stagingDir: options.stagingDir ?? join(tmpdir(), 'pullback-staging'),
          openOutbox: (url) => openStorage(url, options),
          importKinds: (component, name) => recipeFor(component, name).importKinds,
          forget: forgetSnapshots,
          drills: { recipeFor },
          wal: {
            recipeFor,
            ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
            onError: (error, where) => pipeline.onError(error, where),
          },
          ...(options.walGapIntervalMs === undefined ? {} : { walGapIntervalMs: options.walGapIntervalMs }),
        }),
      );
    }
    if (roles.import && archive !== undefined) {
      workers.push(
        await startImportWorker({
          pipeline,
          config,
          archive,
          recipeFor,
          ...instances,
          ...(options.positionIntervalMs === undefined
            ? {}
            : { positionIntervalMs: options.positionIntervalMs }),
        }),
      );
    }
    if (roles.election) {
      election = await startElection(config, { log: notice, ...options.election, pipeline });
      const running = election;
      workers.push({ workers: [], close: () => running.close() });
    }
  } catch (error) {
    await close();
    throw error;
  }
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    pipeline,
    metrics,
    ...(archive === undefined ? {} : { archive }),
    workers,
    ...(election === undefined ? {} : { election }),
    close,
    closed,
  };
}

async function openConfiguredArchive(config: Config, options: StartAllOptions): Promise<Archive> {
  const key = resolveArchiveKey({
    keyFile: options.keyFile,
    env: options.env ?? process.env,
    configKeyFile: config.archive.keyFile,
  });
  return openArchive({ archive: openStorage(config.archive.url, options), ...key });
}

/** An archive or outbox whose retries are reported and end with the signal. */
function openStorage(url: string, options: StartAllOptions): Backend {
  const { onStorageRetry, signal } = options;
  const backend: Backend = openBackend(url, {
    retry: {
      ...(signal === undefined ? {} : { signal }),
      ...(onStorageRetry === undefined
        ? {}
        : { onRetry: (event) => onStorageRetry(event, backend.location) }),
    },
  });
  return backend;
}
