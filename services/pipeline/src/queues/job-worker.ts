import { type Job, Worker } from 'bullmq';
import type { JobRole } from './job-contracts.js';
import { logJobEvents } from './job-log.js';
import type { Pipeline } from './pipeline.js';
import { type JobWork, runJob } from './run-job.js';
import { reportWorkerErrors } from './running-worker.js';

export interface JobWorkerOptions {
  /** Names the worker where its connection errors are reported, e.g. `export worker`. */
  readonly name: string;
  /** Jobs run at once. */
  readonly concurrency: number;
  /** See `RunJobOptions.laterDelayMs`. */
  readonly laterDelayMs?: number;
}

/**
 * Starts a BullMQ worker on `queue` whose every job runs through `runJob` against the
 * pipeline's registry, and whose connection errors go to the pipeline's `onError`:
 * what a processor needs besides its domain call. `work` also gets the job (for its
 * id and log).
 */
export function startJobWorker<R extends JobRole, T>(
  pipeline: Pick<Pipeline, 'registry' | 'queueOptions' | 'onError'> &
    Partial<Pick<Pipeline, 'metrics' | 'logger'>>,
  queue: string,
  role: R,
  options: JobWorkerOptions,
  work: (input: JobWork<R>, job: Job) => Promise<T>,
): Worker {
  const worker = new Worker(
    queue,
    (job, token, signal) =>
      runJob(
        role,
        job,
        token,
        signal,
        {
          registry: pipeline.registry,
          ...(pipeline.metrics === undefined ? {} : { metrics: pipeline.metrics.jobs }),
          ...(options.laterDelayMs === undefined ? {} : { laterDelayMs: options.laterDelayMs }),
        },
        (input) => work(input, job),
      ),
    { ...pipeline.queueOptions, concurrency: options.concurrency },
  );
  if (pipeline.logger !== undefined) logJobEvents(worker, pipeline.logger, role);
  return reportWorkerErrors(worker, pipeline.onError, options.name);
}
