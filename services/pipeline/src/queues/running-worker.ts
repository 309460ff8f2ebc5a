import type { Worker } from 'bullmq';
import type { ErrorReporter } from './error-reporter.js';

/** A started worker (or group of BullMQ workers) of one role. */
export interface RunningWorker {
  readonly workers: readonly Worker[];
  /**
   * Stops taking jobs and waits for the running ones: aborted first (their jobs are
   * retried later, and every step cleans up after an abort) unless `graceful`, when
   * they are left to finish.
   */
  close(options?: { graceful?: boolean }): Promise<void>;
}

/** Closes BullMQ workers as `RunningWorker.close` says. */
export async function closeWorkers(
  workers: readonly Worker[],
  options: { graceful?: boolean } = {},
): Promise<void> {
  if (!options.graceful) for (const worker of workers) worker.cancelAllJobs('the worker is shutting down');
  await Promise.all(workers.map((worker) => worker.close()));
}

/** Sends a worker's `error` events (connection trouble, not job failures) to `report`. */
export function reportWorkerErrors(worker: Worker, report: ErrorReporter, where: string): Worker {
  worker.on('error', (error: Error) => report(error, where));
  return worker;
}
