import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { messageOf } from '../domain/errors.js';
import type { StepProgress } from '../domain/progress.js';
import type { JobMetrics } from '../metrics/job-metrics.js';
import type { FailureStage } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { type JobDataOf, type JobRole, parseJob } from './job-contracts.js';
import { jobErrorAction } from './job-errors.js';

/** The progress a job reports (BullMQ job progress), for `status` and the command line. */
export interface JobProgress extends StepProgress {
  /** Bytes per second over the stage so far. */
  readonly bytesPerSecond?: number;
  readonly at: string;
}

export interface RunJobOptions {
  /** Where failures are recorded for `status`. */
  readonly registry: Registry;
  /** Where failures are counted for `/metrics`. Default: nowhere. */
  readonly metrics?: JobMetrics;
  /** How long a job that cannot run now waits before it is tried again, in ms. Default: 5 000. */
  readonly laterDelayMs?: number;
  /** Least time between two progress reports, in ms. Default: 1 000. */
  readonly progressIntervalMs?: number;
}

export interface JobWork<R extends JobRole> {
  readonly data: JobDataOf<R>;
  readonly signal: AbortSignal;
  readonly onProgress: (progress: StepProgress) => void;
}

/**
 * The frame of every processor: validates the job's data, runs `work` with a
 * progress callback (throttled into `job.updateProgress`) and the job's abort
 * signal, records failures in the registry and translates errors (`jobErrorAction`)
 * into what BullMQ understands: `UnrecoverableError` for permanent ones, a delayed
 * retry that spends no attempt for "not now", the error itself for a retry.
 */
export async function runJob<R extends JobRole, T>(
  role: R,
  job: Job,
  token: string | undefined,
  signal: AbortSignal | undefined,
  options: RunJobOptions,
  work: (input: JobWork<R>) => Promise<T>,
): Promise<T> {
  const jobId = job.id ?? '?';
  let data: JobDataOf<R>;
  try {
    data = parseJob(role, job.data, jobId);
  } catch (error) {
    throw new UnrecoverableError(messageOf(error));
  }
  const aborted = signal ?? new AbortController().signal;
  const interval = options.progressIntervalMs ?? 1000;
  let last = 0;
  let stage: { name: string; detail: string | undefined; started: number } | undefined;
  const onProgress = (progress: StepProgress) => {
    const now = Date.now();
    // A new stage (or part of one) is news: reported at once, whatever the interval.
    const changed = stage?.name !== progress.stage || stage.detail !== progress.detail;
    if (changed) stage = { name: progress.stage, detail: progress.detail, started: now };
    if (!changed && now - last < interval) return;
    last = now;
    const seconds = (now - (stage?.started ?? now)) / 1000;
    const report: JobProgress = {
      ...progress,
      ...(seconds > 0 ? { bytesPerSecond: Math.round(progress.bytesDone / seconds) } : {}),
      at: new Date(now).toISOString(),
    };
    job.updateProgress(report as unknown as object).catch(() => {});
  };
  try {
    return await work({ data, signal: aborted, onProgress });
  } catch (error) {
    // A worker shutting down interrupted the job: it is retried, and it is no failure of the pipeline.
    if (aborted.aborted) throw error;
    const action = jobErrorAction(error);
    if (action === 'later') {
      await job.moveToDelayed(Date.now() + (options.laterDelayMs ?? 5000), token);
      throw new DelayedError(messageOf(error));
    }
    const attempts = job.opts.attempts ?? 1;
    const final = action === 'permanent' || job.attemptsMade + 1 >= attempts;
    const component = (data as { component: string }).component;
    const instance = (data as { instance?: string }).instance;
    options.metrics?.failed(job.queueName, component, error);
    await options.registry
      .recordFailure(component, {
        stage: stageOf(role),
        at: new Date().toISOString(),
        message: messageOf(error),
        jobId,
        ...(instance === undefined ? {} : { instance }),
        final,
      })
      .catch(() => {});
    if (action === 'permanent') throw new UnrecoverableError(messageOf(error));
    throw error;
  }
}

function stageOf(role: JobRole): FailureStage {
  return role;
}
