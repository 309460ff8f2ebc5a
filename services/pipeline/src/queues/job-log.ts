import type { Job, Worker } from 'bullmq';
import { messageOf } from '../domain/errors.js';
import type { LogFields, Logger } from '../log/logger.js';

/**
 * One line when a worker starts a job, one when it ends (done, with its duration, or
 * failed, with why), each carrying the job's component, instance, id and epoch.
 */
export function logJobEvents(worker: Worker, logger: Logger, role: string): Worker {
  const started = new Map<string, number>();
  worker.on('active', (job: Job) => {
    started.set(job.id ?? '', Date.now());
    logger.info(jobFields(job), `${role} job ${job.id} started`);
  });
  worker.on('completed', (job: Job) => {
    const seconds = secondsSince(started, job);
    logger.info({ ...jobFields(job), seconds }, `${role} job ${job.id} done in ${seconds} s`);
  });
  worker.on('failed', (job: Job | undefined, error: Error) => {
    if (job === undefined) return;
    const seconds = secondsSince(started, job);
    logger.error(
      { ...jobFields(job), seconds, attemptsMade: job.attemptsMade, err: error },
      `${role} job ${job.id} failed: ${messageOf(error)}`,
    );
  });
  return worker;
}

/**
 * What a job warns of (entries a backup left out): into the job's own log, which
 * `pullback status` shows, and as a warning line with the job's fields.
 */
export function jobWarnings(
  logger: Logger | undefined,
  job: Pick<Job, 'id' | 'data' | 'log'>,
): (message: string) => void {
  return (message) => {
    void job.log(`warning: ${message}`).catch(() => {});
    logger?.warn(jobFields(job), message);
  };
}

function jobFields(job: Pick<Job, 'id' | 'data'>): LogFields {
  const data = (job.data ?? {}) as { component?: unknown; instance?: unknown; epoch?: unknown };
  return {
    ...(typeof data.component === 'string' ? { component: data.component } : {}),
    ...(typeof data.instance === 'string' ? { instance: data.instance } : {}),
    jobId: job.id ?? '?',
    ...(typeof data.epoch === 'number' ? { epoch: data.epoch } : {}),
  };
}

function secondsSince(started: Map<string, number>, job: Job): number | undefined {
  const at = started.get(job.id ?? '');
  started.delete(job.id ?? '');
  return at === undefined ? undefined : Math.round((Date.now() - at) / 100) / 10;
}
