import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ArtifactKind } from '../artifact/format.js';
import type { RedisConfig } from '../config/redis-schema.js';
import type { ComponentConfig, Config } from '../config/schema.js';
import { PipelineError } from '../domain/errors.js';
import type { Logger } from '../log/logger.js';
import type { ProcessMetrics } from '../metrics/process-metrics.js';
import { type PipelineStatus, type ReadStatusOptions, readStatus } from '../registry/read-status.js';
import type { RecordedEpoch } from '../registry/records.js';
import { Registry } from '../registry/registry.js';
import { DEFAULT_PREFIX } from '../registry/registry-keys.js';
import { type ErrorReporter, reportToStderr } from './error-reporter.js';
import type { ExportJob, ImportJob, PullJob } from './job-contracts.js';
import { defaultJobOptions, type JobRetryOptions } from './job-defaults.js';
import {
  EXPORT_QUEUE,
  exportNowJobId,
  exportSchedulerId,
  importJobId,
  importQueueName,
  logicalSchedulerId,
  PULL_QUEUE,
  pullJobId,
} from './queue-names.js';
import { connectRedis } from './redis-connection.js';
import type { JobProgress } from './run-job.js';

/** The states of a job that has yet to finish. */
const PENDING_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

export interface PipelineOptions {
  /** The config's `redis` (a URL or the Sentinel form), or an open connection (then not closed by `close`). */
  readonly redis: RedisConfig | Redis;
  /**
   * Namespace of every key, BullMQ's and the registry's, so that pipelines sharing
   * a Redis (tests, two deployments) never meet. Default: `pullback`.
   */
  readonly prefix?: string;
  /** Retries of failed jobs (see `JobRetryOptions` for defaults). */
  readonly retry?: JobRetryOptions;
  /** Errors of the queues' and workers' connections. Default: one line on stderr. */
  readonly onError?: ErrorReporter;
  /** The process's metrics, where its workers record their jobs. Default: none. */
  readonly metrics?: ProcessMetrics;
  /** Where workers of this pipeline log their jobs (job-log.ts). Default: nowhere. */
  readonly logger?: Logger;
}

/** Jobs of one queue by state. */
export interface QueueCounts {
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  readonly completed: number;
}

/** A job being worked on, with its last reported progress. */
export interface RunningJob {
  readonly queue: string;
  readonly jobId: string;
  readonly component: string;
  readonly instance?: string;
  readonly progress?: JobProgress;
}

/** `readStatus` of the registry, plus what the queues say. */
export interface FullStatus extends PipelineStatus {
  /** Per queue name. */
  readonly queues: Readonly<Record<string, QueueCounts>>;
  /** Per component: when its scheduler runs the next export (ISO 8601). */
  readonly nextExports: Readonly<Record<string, string>>;
  /** Per component with a `logical` schedule: when it runs the next logical export (ISO 8601). */
  readonly nextLogicalExports?: Readonly<Record<string, string>>;
  readonly running: readonly RunningJob[];
}

/** What `exportNow` did. */
export interface ExportNowResult {
  readonly jobId: string;
  /** False when a `--now` export of the component was already waiting or running: that one stands. */
  readonly created: boolean;
  readonly epoch: number;
}

/** What `Pipeline.restoreIfReset` restored. */
export interface RegistryRestore {
  /** Components registered again from the config. */
  readonly components: number;
  /** The highest epoch among them. */
  readonly epoch: number;
  /** Per component whose active the instances' records named (not the config's), that active. */
  readonly actives?: Readonly<Record<string, string>>;
}

/**
 * The pipeline's producer side and control plane: the queues, the job schedulers
 * and the registry, over one Redis connection. Workers (workers/*) consume the
 * queues; the command line uses this to register the config, ask for an export and
 * read the status.
 */
export class Pipeline {
  readonly connection: Redis;
  readonly prefix: string;
  readonly registry: Registry;
  readonly exportQueue: Queue<ExportJob>;
  readonly pullQueue: Queue<PullJob>;
  private readonly importQueues = new Map<string, Queue<ImportJob>>();
  private readonly ownsConnection: boolean;
  /** Where workers of this pipeline report errors that belong to no job. */
  readonly onError: ErrorReporter;
  /** The process's metrics, when it serves them. */
  readonly metrics: ProcessMetrics | undefined;
  readonly logger: Logger | undefined;
  private readonly jobOptions;

  constructor(options: PipelineOptions) {
    const redis = options.redis;
    this.ownsConnection = !isConnection(redis);
    this.connection = isConnection(redis) ? redis : connectRedis(redis);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.registry = new Registry(this.connection, { prefix: this.prefix });
    this.jobOptions = defaultJobOptions(options.retry);
    this.onError = options.onError ?? reportToStderr;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.exportQueue = this.queue<ExportJob>(EXPORT_QUEUE);
    this.pullQueue = this.queue<PullJob>(PULL_QUEUE);
  }

  /** The options a worker of this pipeline needs for BullMQ (connection and prefix). */
  get queueOptions(): { connection: Redis; prefix: string } {
    return { connection: this.connection, prefix: this.prefix };
  }

  /** Fallback `instance`'s import queue. */
  importQueue(instance: string): Queue<ImportJob> {
    let queue = this.importQueues.get(instance);
    if (queue === undefined) {
      queue = this.queue<ImportJob>(importQueueName(instance));
      this.importQueues.set(instance, queue);
    }
    return queue;
  }

  /**
   * Registers the config's components in the registry (live roles and epochs are
   * kept, see `Registry.registerComponent`; none below `recorded`, whose active it
   * takes when the registry lost its own) and upserts
   * one export job scheduler per component with its cron and current epoch (and one
   * per `logical` schedule); schedulers no longer in the config are removed; then marks the
   * registry registered. Safe to run at every start, and by several processes at once.
   * `marked` is true for the one call that set the marker (the first registration,
   * or the restoration after Redis lost the registry).
   */
  async register(
    config: Config,
    recorded: Readonly<Record<string, RecordedEpoch>> = {},
  ): Promise<{ epochs: Record<string, number>; actives?: Record<string, string>; marked: boolean }> {
    const registered = await this.registry.registerConfig(config, recorded);
    const epochs: Record<string, number> = {};
    const actives: Record<string, string> = {};
    for (const [name, { epoch, active }] of Object.entries(registered)) {
      epochs[name] = epoch;
      const configured = config.components[name]?.instances.find((i) => i.role === 'active')?.name;
      if (active !== undefined && active !== configured) actives[name] = active;
    }
    const wanted = new Set<string>();
    for (const [name, component] of Object.entries(config.components)) {
      for (const id of await this.upsertSchedules(name, component)) wanted.add(id);
    }
    for (const scheduler of await this.exportQueue.getJobSchedulers(0, -1)) {
      if (!wanted.has(scheduler.key)) await this.exportQueue.removeJobScheduler(scheduler.key);
    }
    const marked = await this.registry.markRegistered();
    // `actives`: the components whose active is not the config's (an activation since, or the records').
    return { epochs, ...(Object.keys(actives).length === 0 ? {} : { actives }), marked };
  }

  /**
   * Registers the config again if Redis lost the registry (its marker is gone), with
   * the epochs (and actives) `recorded` reads from outside Redis. Returns what was
   * restored, or undefined when nothing was lost or another process restored it at
   * the same time.
   */
  async restoreIfReset(
    config: Config,
    recorded: () => Promise<Readonly<Record<string, RecordedEpoch>>>,
  ): Promise<RegistryRestore | undefined> {
    if (await this.registry.isRegistered()) return undefined;
    const { epochs, actives, marked } = await this.register(config, await recorded());
    if (!marked) return undefined;
    return {
      components: Object.keys(epochs).length,
      epoch: Math.max(1, ...Object.values(epochs)),
      ...(actives === undefined ? {} : { actives }),
    };
  }

  /**
   * Upserts component `component`'s export schedulers: its `schedule` (cron), and
   * its `logical.schedule` when it has one (a logical scheduler it no longer has is
   * removed), with jobs carrying the component's current epoch. Run it again after an
   * activation: a scheduler's jobs carry the epoch it was upserted with. Returns the
   * ids of the schedulers it has.
   */
  async upsertSchedules(
    component: string,
    config: Pick<ComponentConfig, 'schedule'> & { readonly logical?: { readonly schedule: string } },
  ): Promise<string[]> {
    const { epoch } = await this.registry.requireComponent(component);
    const physical = exportSchedulerId(component);
    await this.exportQueue.upsertJobScheduler(
      physical,
      { pattern: config.schedule },
      { name: 'export', data: { component, epoch, requestedBy: 'schedule' } },
    );
    const logical = logicalSchedulerId(component);
    if (config.logical === undefined) {
      await this.exportQueue.removeJobScheduler(logical);
      return [physical];
    }
    await this.exportQueue.upsertJobScheduler(
      logical,
      { pattern: config.logical.schedule },
      { name: 'export', data: { component, epoch, requestedBy: 'schedule', kind: 'logical' } },
    );
    return [physical, logical];
  }

  /**
   * `pullback export <component> --now`: adds an export job under the component's
   * fixed `--now` job id, so that a second request while one waits, runs or retries
   * is the same job rather than a second export. A scheduled export and this one
   * never run at once either: each export takes the component's export lock, and one
   * that finds it taken waits its turn. A logical one (`kind`) has its own job id, so
   * it neither stands for nor waits behind a physical `--now`.
   */
  async exportNow(
    component: string,
    options: { kind?: ArtifactKind; full?: boolean } = {},
  ): Promise<ExportNowResult> {
    const kind = options.kind ?? 'physical';
    const record = await this.registry.component(component);
    if (record === undefined) {
      throw new PipelineError('unknown-component', `component ${component} is not in the registry`, {
        hint: 'start `pullback up` with a config that has it, or check the name',
      });
    }
    const jobId = exportNowJobId(component, kind);
    const existing = await this.exportQueue.getJob(jobId);
    await this.exportQueue.add(
      'export',
      {
        component,
        epoch: record.epoch,
        requestedBy: 'now',
        ...(kind === 'logical' ? { kind } : {}),
        // A logical export reads everything anyway (pg_dump).
        ...(options.full === true && kind === 'physical' ? { full: true } : {}),
      },
      // Removed once finished, so that the next --now is a new job; the registry keeps the outcome.
      { jobId, removeOnComplete: true, removeOnFail: true },
    );
    return { jobId, created: existing === undefined, epoch: record.epoch };
  }

  async enqueuePull(job: PullJob): Promise<Job<PullJob>> {
    return this.pullQueue.add('pull', job, { jobId: pullJobId(job.component, job.exportId) });
  }

  /** Enqueues an import; `catchUp` makes a new job even when one for the same snapshot finished before. */
  async enqueueImport(job: ImportJob, options: { catchUp?: boolean } = {}): Promise<Job<ImportJob>> {
    const base = importJobId(job.instance, job.snapshotId);
    const jobId = options.catchUp ? `${base}.${Date.now()}` : base;
    return this.importQueue(job.instance).add('import', job, { jobId });
  }

  /**
   * Whether the import of `snapshotId` queued for `instance` (the job `enqueueImport`
   * made without `catchUp`) still waits or runs: such a job runs once an agent serves the queue.
   */
  async isImportPending(instance: string, snapshotId: string): Promise<boolean> {
    const job = await this.importQueue(instance).getJob(importJobId(instance, snapshotId));
    return job !== undefined && PENDING_STATES.has(await job.getState());
  }

  /**
   * Everything `pullback status` shows: the registry's picture, the queues' job
   * counts, each component's next scheduled export, and the jobs running now with
   * their progress.
   */
  async readStatus(options: ReadStatusOptions = {}): Promise<FullStatus> {
    const status = await readStatus(this.registry, options);
    const queues: Record<string, Queue> = { [EXPORT_QUEUE]: this.exportQueue, [PULL_QUEUE]: this.pullQueue };
    for (const component of status.components) {
      for (const instance of component.instances) {
        if (instance.role === 'fallback')
          queues[importQueueName(instance.name)] = this.importQueue(instance.name);
      }
    }
    const counts: Record<string, QueueCounts> = {};
    const running: RunningJob[] = [];
    for (const [name, queue] of Object.entries(queues)) {
      const jobs = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
      counts[name] = {
        waiting: jobs.waiting ?? 0,
        active: jobs.active ?? 0,
        delayed: jobs.delayed ?? 0,
        failed: jobs.failed ?? 0,
        completed: jobs.completed ?? 0,
      };
      for (const job of await queue.getActive()) {
        const data = job.data as { component?: string; instance?: string };
        const progress =
          typeof job.progress === 'object' ? (job.progress as unknown as JobProgress) : undefined;
        running.push({
          queue: name,
          jobId: job.id ?? '?',
          component: data.component ?? '?',
          ...(data.instance === undefined ? {} : { instance: data.instance }),
          ...(progress === undefined ? {} : { progress }),
        });
      }
    }
    const nextExports: Record<string, string> = {};
    const nextLogicalExports: Record<string, string> = {};
    for (const scheduler of await this.exportQueue.getJobSchedulers(0, -1)) {
      const data = scheduler.template?.data;
      if (data?.component !== undefined && scheduler.next !== undefined) {
        const next = data.kind === 'logical' ? nextLogicalExports : nextExports;
        next[data.component] = new Date(scheduler.next).toISOString();
      }
    }
    return { ...status, queues: counts, nextExports, nextLogicalExports, running };
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.exportQueue, this.pullQueue, ...this.importQueues.values()].map((q) => q.close()),
    );
    if (this.ownsConnection) await this.connection.quit().catch(() => this.connection.disconnect());
  }

  private queue<T>(name: string): Queue<T> {
    const queue = new Queue<T>(name, {
      connection: this.connection,
      prefix: this.prefix,
      defaultJobOptions: this.jobOptions,
    });
    queue.on('error', (error: Error) => this.onError(error, `queue ${name}`));
    return queue;
  }
}

/** An open connection rather than the config's `redis` (a URL string or a mapping with `sentinels`). */
function isConnection(redis: RedisConfig | Redis): redis is Redis {
  return typeof redis !== 'string' && !('sentinels' in redis);
}

/** Opens the pipeline's queues and registry on Redis. Close it when done. */
export function openPipeline(options: PipelineOptions): Pipeline {
  return new Pipeline(options);
}
