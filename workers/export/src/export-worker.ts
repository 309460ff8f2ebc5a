import {
  type ComponentConfig,
  type Config,
  closeWorkers,
  EXPORT_QUEUE,
  exportIdFor,
  isPipelineError,
  jobWarnings,
  type Outbox,
  type Pipeline,
  PipelineError,
  type Recipe,
  type RunningWorker,
  runExport,
  startJobWorker,
} from '@pullback/pipeline';
import { openBackend } from '@pullback/storage';

export interface ExportWorkerOptions {
  /** The pipeline's queues and registry (`openPipeline`). */
  readonly pipeline: Pipeline;
  readonly config: Config;
  /** The recipe of a component. */
  readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
  /** Opens an outbox URL. Default: `openBackend` (path, file://, s3://). */
  readonly openOutbox?: (url: string) => Outbox;
  /**
   * The instances this agent runs next to: it exports a component only while its
   * live active is one of them, and hands other jobs back. Default: all (one agent).
   */
  readonly instances?: readonly string[];
  /** Exports run at once by this agent (different components). Default: 1. */
  readonly concurrency?: number;
  /** How long a job waits when its component's export is busy or its active is not here, in ms. Default: 5 000. */
  readonly laterDelayMs?: number;
  /** The export lock's TTL in ms. Default: 60 000. */
  readonly lockTtlMs?: number;
}

/** What a finished export job returns (kept small: the manifest is in the outbox). */
export interface ExportJobResult {
  readonly exportId: string;
  readonly instance?: string;
  /** Bytes of the artifact. */
  readonly bytes: number;
}

/**
 * The export agent: a BullMQ worker on the export queue. Each job (scheduled or
 * `--now`, physical or logical) runs the component's recipe into its outbox through `runExport`, which
 * enqueues the pull. It needs no access to the archive or its key.
 */
export function startExportWorker(options: ExportWorkerOptions): RunningWorker {
  const { pipeline, config } = options;
  const openOutbox = options.openOutbox ?? ((url: string) => openBackend(url));
  const worker = startJobWorker(
    pipeline,
    EXPORT_QUEUE,
    'export',
    {
      name: 'export worker',
      concurrency: options.concurrency ?? 1,
      ...(options.laterDelayMs === undefined ? {} : { laterDelayMs: options.laterDelayMs }),
    },
    async ({ data, signal: aborted, onProgress }, job): Promise<ExportJobResult> => {
      const component = config.components[data.component];
      if (component === undefined) {
        throw new PipelineError('unknown-component', `export of ${data.component}: not in the config`);
      }
      const started = performance.now();
      try {
        const result = await runExport({
          component: data.component,
          config: component,
          recipe: options.recipeFor(component, data.component),
          outbox: openOutbox(component.outbox),
          exportId: exportIdFor(data.component, job.id ?? '', job.timestamp),
          ...(data.kind === undefined ? {} : { kind: data.kind }),
          epoch: data.epoch,
          registry: pipeline.registry,
          stateDir: config.stateDir,
          ...(data.full === true ? { full: true } : {}),
          ...(options.instances === undefined ? {} : { localInstances: options.instances }),
          enqueuePull: async (pull) => {
            await pipeline.enqueuePull(pull);
          },
          ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
          signal: aborted,
          onProgress,
          // Entries the recipe left out go to the job's log (see `pullback status`) and the process's.
          onWarning: jobWarnings(pipeline.logger, job),
        });
        const bytes = result.manifest.objects.reduce((sum, object) => sum + object.size, 0);
        pipeline.metrics?.jobs.observe('export', {
          component: data.component,
          ...(result.instance === undefined ? {} : { instance: result.instance }),
          seconds: (performance.now() - started) / 1000,
          bytes,
        });
        return {
          exportId: result.exportId,
          ...(result.instance === undefined ? {} : { instance: result.instance }),
          bytes,
        };
      } catch (error) {
        // A scheduler's jobs carry the epoch it was upserted with: bring it to the current one.
        if (isPipelineError(error, 'stale-epoch') && data.requestedBy === 'schedule') {
          await pipeline.upsertSchedules(data.component, component).catch(() => {});
        }
        throw error;
      }
    },
  );
  return { workers: [worker], close: (closeOptions) => closeWorkers([worker], closeOptions) };
}
