import type { JobsOptions } from 'bullmq';

/** How failed jobs are retried: set on each queue's default job options. */
export interface JobRetryOptions {
  /** Tries per job, the first included. Default: 5. */
  readonly attempts?: number;
  /** The pause before the first retry in ms, doubled for each next one. Default: 10 000. */
  readonly backoffMs?: number;
  /** Finished jobs kept for `status` and debugging, per queue. Default: 200 completed, 1000 failed. */
  readonly keepCompleted?: number;
  readonly keepFailed?: number;
}

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 10_000;

/**
 * The default options of every queue's jobs: retried with exponential backoff (an
 * active that is restarting, an S3 hiccup), finished ones trimmed so Redis holds
 * coordination only.
 */
export function defaultJobOptions(options: JobRetryOptions = {}): JobsOptions {
  return {
    attempts: options.attempts ?? DEFAULT_ATTEMPTS,
    backoff: { type: 'exponential', delay: options.backoffMs ?? DEFAULT_BACKOFF_MS },
    removeOnComplete: { count: options.keepCompleted ?? 200 },
    removeOnFail: { count: options.keepFailed ?? 1000 },
  };
}
