import { z } from 'zod';

/*
 * What each queue's jobs carry. Every job names its component and carries the
 * component's epoch as it was when the job was made: a worker refuses a job whose
 * epoch is no longer the component's (docs/architecture.md, "Processes and queues").
 * Job data crosses processes and versions, so workers validate it before use.
 */

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a component or instance name');
const epoch = z.int().min(1);

/** An export of the component's active, into its outbox. */
export const exportJobSchema = z.strictObject({
  component: name,
  epoch,
  /** `schedule`: made by the component's job scheduler; `now`: `pullback export <component> --now`. */
  requestedBy: z.enum(['schedule', 'now']),
  /** Absent: physical (what every export job was before logical ones could be asked for). */
  kind: z.literal('logical').optional(),
  /** Physical: read everything, whatever the agent's record of the previous export (`export --full`). Default: false. */
  full: z.boolean().optional(),
});

/** Ingest the complete artifact `exportId` from `outbox` into the archive. */
export const pullJobSchema = z.strictObject({
  component: name,
  epoch,
  exportId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected an export id'),
  /** The outbox URL the export wrote to (the config's at the time of the export). */
  outbox: z.string().min(1),
});

/** Apply snapshot `snapshotId` to fallback `instance`. */
export const importJobSchema = z.strictObject({
  component: name,
  instance: name,
  epoch,
  snapshotId: z.string().regex(/^[0-9a-f]{64}$/, 'expected a snapshot id'),
});

export type ExportJob = z.output<typeof exportJobSchema>;
export type PullJob = z.output<typeof pullJobSchema>;
export type ImportJob = z.output<typeof importJobSchema>;

/** The schema of each role's jobs. */
export const JOB_SCHEMAS = {
  export: exportJobSchema,
  pull: pullJobSchema,
  import: importJobSchema,
} as const;

export type JobRole = keyof typeof JOB_SCHEMAS;
export type JobDataOf<R extends JobRole> = z.output<(typeof JOB_SCHEMAS)[R]>;

/**
 * `data` checked as a job of `role`, or a one-line `InvalidJobError` naming the job:
 * such a job can never succeed, so workers fail it without retrying.
 */
export function parseJob<R extends JobRole>(role: R, data: unknown, jobId = '?'): JobDataOf<R> {
  const result = JOB_SCHEMAS[role].safeParse(data);
  if (result.success) return result.data as JobDataOf<R>;
  const problems = result.error.issues
    .map((issue) => `${issue.path.length === 0 ? '(data)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
  throw new InvalidJobError(`${role} job ${jobId} is invalid: ${problems}`);
}

export class InvalidJobError extends Error {
  override readonly name = 'InvalidJobError';
}
