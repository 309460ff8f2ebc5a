import { Counter, Histogram, type Registry } from 'prom-client';
import type { JobRole } from '../queues/job-contracts.js';
import { BYTE_BUCKETS, DURATION_BUCKETS } from './buckets.js';
import { failureReason } from './failure-reason.js';

/** What one finished job did, for its role's histograms. */
export interface JobObservation {
  readonly component: string;
  /** The fallback an import restored. */
  readonly instance?: string;
  readonly seconds: number;
  /** Bytes exported, ingested or restored; left out when the job moved none (a followed fallback). */
  readonly bytes?: number;
}

/**
 * The jobs' histograms and failures, observed where the jobs run (workers/export,
 * workers/pull-backup, workers/import; failures in `runJob`).
 */
export class JobMetrics {
  private readonly durations: Readonly<Record<JobRole, Histogram<string>>>;
  private readonly bytes: Readonly<Record<JobRole, Histogram<string>>>;
  private readonly failures: Counter<string>;

  constructor(registry: Registry) {
    const labelNames = ['component', 'instance'];
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers: [registry] });
    this.durations = {
      export: histogram('pullback_export_duration_seconds', 'How long exports took', DURATION_BUCKETS),
      pull: histogram(
        'pullback_pull_duration_seconds',
        'How long pulls into the archive took',
        DURATION_BUCKETS,
      ),
      import: histogram(
        'pullback_import_duration_seconds',
        'How long imports into fallbacks took',
        DURATION_BUCKETS,
      ),
    };
    this.bytes = {
      export: histogram('pullback_export_bytes', 'Bytes of the artifacts exports wrote', BYTE_BUCKETS),
      pull: histogram(
        'pullback_pull_bytes',
        'Bytes of the snapshots pulls ingested (their files)',
        BYTE_BUCKETS,
      ),
      import: histogram('pullback_import_bytes', 'Bytes imports restored onto fallbacks', BYTE_BUCKETS),
    };
    this.failures = new Counter({
      name: 'pullback_job_failures_total',
      help: 'Failed job attempts, by queue and reason (the error code)',
      labelNames: ['queue', 'component', 'reason'],
      registers: [registry],
    });
  }

  /** Records a finished job of `role`. */
  observe(role: JobRole, observation: JobObservation): void {
    const labels = { component: observation.component, instance: observation.instance ?? '' };
    this.durations[role].observe(labels, observation.seconds);
    if (observation.bytes !== undefined) this.bytes[role].observe(labels, observation.bytes);
  }

  /** Counts a failed attempt of a job on `queue`. */
  failed(queue: string, component: string, error: unknown): void {
    this.failures.inc({ queue, component, reason: failureReason(error) });
  }
}
