import { createHash } from 'node:crypto';

/**
 * The export id of a job: the component, the job's creation time (UTC, to the
 * second) and a digest of the job id. The same for every attempt of the job, so a
 * retried export finds or replaces its own artifact, and readable in an outbox
 * listing: `shop-20250101T120000Z-1a2b3c4d`.
 */
export function exportIdFor(component: string, jobId: string, createdAt: number): string {
  const time = new Date(createdAt)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const digest = createHash('sha256').update(jobId).digest('hex').slice(0, 8);
  return `${component}-${time}-${digest}`;
}
