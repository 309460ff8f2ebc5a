import type { Archive } from '@pullback/archive';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Pipeline } from '../queues/pipeline.js';
import { within } from '../within-time.js';
import { ArchiveHistorySource } from './archive-history.js';
import { registerArchiveMetrics } from './archive-metrics.js';
import { JobMetrics } from './job-metrics.js';
import { registerRegistryMetrics } from './registry-metrics.js';
import { type RegistryView, readRegistryView, registryKnows } from './registry-view.js';
import { sharedRead } from './shared-read.js';

export interface WatchOptions {
  /** The archive, open: its size, dedup and proven snapshots are listed too. Default: none. */
  readonly archive?: Archive;
  /** The archive is listed again after this long, when nothing new is recorded. Default: 60 000 ms. */
  readonly archiveMaxAgeMs?: number;
  /** How long a scrape waits for Redis, or for a listing of the archive. Default: 5 000 ms. */
  readonly answerWithinMs?: number;
}

/** `/metrics`' answer. */
export interface MetricsText {
  readonly contentType: string;
  readonly body: string;
}

/**
 * One process's metrics (docs/observability.md "Metrics"): its own registry, not
 * prom-client's global one, so that several processes' metrics can live in one Node
 * (tests). The default process metrics with prefix `pullback_`, the jobs' histograms
 * and failures, and with `watch` the pipeline as the registry and the archive see it.
 */
export class ProcessMetrics {
  readonly registry = new Registry();
  readonly jobs: JobMetrics;
  private watched = false;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pullback_' });
    this.jobs = new JobMetrics(this.registry);
  }

  /**
   * Adds what the registry (and with `archive`, the archive) says of the pipeline,
   * read at scrape time. Once per process: the process with the whole view (the pull
   * side), so that each series has one source.
   */
  watch(pipeline: Pick<Pipeline, 'readStatus' | 'registry'>, options: WatchOptions = {}): void {
    if (this.watched) return;
    this.watched = true;
    const answerWithinMs = options.answerWithinMs ?? 5_000;
    // While Redis is away a read waits for it: later scrapes join that read rather than queue more.
    let pending: Promise<RegistryView> | undefined;
    const readOnce = () =>
      (pending ??= readRegistryView(pipeline).finally(() => {
        pending = undefined;
      }));
    const readView = sharedRead(
      () =>
        within(
          readOnce(),
          answerWithinMs,
          () => new Error(`the registry: no answer within ${answerWithinMs / 1000} s`),
        ).catch((): RegistryView | undefined => undefined),
      1_000,
    );
    registerRegistryMetrics(this.registry, readView);
    if (options.archive === undefined) return;
    const history = new ArchiveHistorySource(options.archive, {
      waitMs: answerWithinMs,
      ...(options.archiveMaxAgeMs === undefined ? {} : { maxAgeMs: options.archiveMaxAgeMs }),
    });
    let seen = '';
    const readHistory = sharedRead(async () => {
      const view = await readView();
      if (view !== undefined) seen = registryKnows(view);
      return history.read(seen);
    }, 1_000);
    registerArchiveMetrics(this.registry, readHistory);
  }

  /** The Prometheus text format of every metric. */
  async text(): Promise<MetricsText> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
