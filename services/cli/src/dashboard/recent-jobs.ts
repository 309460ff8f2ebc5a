import type { FullStatus, Pipeline } from '@pullback/pipeline';

/** A job that ended, as the dashboard lists it. */
export interface RecentJob {
  readonly queue: string;
  readonly jobId: string;
  readonly state: 'completed' | 'failed';
  readonly instance?: string;
  /** When it ended (ISO 8601). */
  readonly finishedAt: string;
  /** How long its last attempt ran. */
  readonly seconds?: number;
  readonly attempts: number;
  /** Why it failed, for a failed job. */
  readonly reason?: string;
}

/** What of a BullMQ queue this reads: its lists of ended jobs. */
interface EndedJobs {
  readonly name: string;
  getJobs(
    types: ['completed' | 'failed'],
    start: number,
    end: number,
  ): Promise<readonly (EndedJob | undefined)[]>;
}

interface EndedJob {
  readonly id?: string;
  readonly data: unknown;
  readonly finishedOn?: number;
  readonly processedOn?: number;
  readonly attemptsMade: number;
  readonly failedReason?: string;
}

/** Ended jobs listed per component. */
export const RECENT_JOBS_SHOWN = 10;

/**
 * The newest ended jobs per component, from BullMQ's own lists of completed and
 * failed jobs (which the queues keep, job-defaults.ts): the export, pull and import
 * queues `status` counts.
 */
export async function readRecentJobs(
  pipeline: Pipeline,
  status: FullStatus,
): Promise<Record<string, readonly RecentJob[]>> {
  const queues: EndedJobs[] = [pipeline.exportQueue, pipeline.pullQueue];
  for (const component of status.components) {
    for (const instance of component.instances) {
      if (instance.role === 'fallback') queues.push(pipeline.importQueue(instance.name));
    }
  }
  const byComponent: Record<string, RecentJob[]> = {};
  for (const queue of queues) {
    for (const state of ['completed', 'failed'] as const) {
      // Newest first (BullMQ's default order), enough to fill every component's list.
      const jobs = await queue.getJobs(
        [state],
        0,
        RECENT_JOBS_SHOWN * Math.max(1, status.components.length) - 1,
      );
      for (const job of jobs) {
        if (job?.finishedOn === undefined) continue;
        const data = job.data as { component?: string; instance?: string };
        if (data.component === undefined) continue;
        const list = byComponent[data.component] ?? [];
        byComponent[data.component] = list;
        list.push({
          queue: queue.name,
          jobId: job.id ?? '?',
          state,
          ...(data.instance === undefined ? {} : { instance: data.instance }),
          finishedAt: new Date(job.finishedOn).toISOString(),
          ...(job.processedOn === undefined ? {} : { seconds: (job.finishedOn - job.processedOn) / 1000 }),
          attempts: job.attemptsMade,
          ...(state === 'failed' && job.failedReason !== undefined ? { reason: job.failedReason } : {}),
        });
      }
    }
  }
  for (const [component, list] of Object.entries(byComponent)) {
    byComponent[component] = list
      .sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))
      .slice(0, RECENT_JOBS_SHOWN);
  }
  return byComponent;
}
