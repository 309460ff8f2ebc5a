// Everything a recipe or a one-shot command needs (core.ts), then the queues, metrics and logger.
export * from './core.js';
export { JobMetrics, type JobObservation } from './metrics/job-metrics.js';
export { type MetricsText, ProcessMetrics, type WatchOptions } from './metrics/process-metrics.js';
export { type ErrorReporter, reportToStderr } from './queues/error-reporter.js';
export {
  type ExportJob,
  exportJobSchema,
  type ImportJob,
  InvalidJobError,
  importJobSchema,
  JOB_SCHEMAS,
  type JobDataOf,
  type JobRole,
  type PullJob,
  parseJob,
  pullJobSchema,
} from './queues/job-contracts.js';
export {
  DEFAULT_ATTEMPTS,
  DEFAULT_BACKOFF_MS,
  defaultJobOptions,
  type JobRetryOptions,
} from './queues/job-defaults.js';
export { type JobErrorAction, jobErrorAction } from './queues/job-errors.js';
export { jobWarnings } from './queues/job-log.js';
export { type JobWorkerOptions, startJobWorker } from './queues/job-worker.js';
export { type PeriodicTask, startPeriodicTask } from './queues/periodic-task.js';
export {
  type ExportNowResult,
  type FullStatus,
  openPipeline,
  Pipeline,
  type PipelineOptions,
  type QueueCounts,
  type RegistryRestore,
  type RunningJob,
} from './queues/pipeline.js';
export {
  EXPORT_QUEUE,
  exportNowJobId,
  exportSchedulerId,
  importJobId,
  importQueueName,
  logicalSchedulerId,
  PULL_QUEUE,
  pullJobId,
} from './queues/queue-names.js';
export { connectRedis, type Redis, type RedisOptions } from './queues/redis-connection.js';
export { describeRestore, guardRegistry, type RegistryGuardOptions } from './queues/registry-guard.js';
export { type JobProgress, type JobWork, type RunJobOptions, runJob } from './queues/run-job.js';
export { closeWorkers, type RunningWorker, reportWorkerErrors } from './queues/running-worker.js';
