import type { Archive, Snapshot, SnapshotProof } from '@pullback/archive';
import type { FullStatus, Pipeline } from '@pullback/pipeline';
import type { PointRange } from '../point-in-time/restorable-range.js';
import { readSnapshotTimeline, type SnapshotTimeline } from '../snapshot-timeline.js';
import { type RecentJob, readRecentJobs } from './recent-jobs.js';
import { redactSecrets } from './secret-redactor.js';

/**
 * Everything the dashboard shows, as its JSON endpoint serves it (docs/dashboard.md):
 * `status` is what `pullback status --json` prints, `timelines` what `pullback
 * snapshots` reads, per component. Secrets are redacted from every string.
 */
export interface DashboardData {
  readonly at: string;
  /** The registry and queues; null when Redis did not answer (`statusError` says why). */
  readonly status: FullStatus | null;
  readonly statusError?: string;
  /** Per component, the newest jobs that ended (BullMQ's completed and failed lists). */
  readonly recentJobs: Readonly<Record<string, readonly RecentJob[]>>;
  /** Per component, from the archive; empty until the archive was read once. */
  readonly timelines: Readonly<Record<string, ComponentTimeline>>;
  /** When the archive was last read; null before the first read ended. */
  readonly archiveReadAt: string | null;
  readonly archiveError?: string;
}

export interface ComponentTimeline {
  /** The newest first, at most `SNAPSHOTS_SHOWN`. */
  readonly snapshots: readonly TimelineSnapshot[];
  /** How many older snapshots the archive holds besides. */
  readonly older: number;
  /** The times a point-in-time restore can reach, oldest first, and the WAL's gaps; null without WAL. */
  readonly restorable: {
    readonly ranges: readonly PointRange[];
    readonly gaps: readonly PointRange[];
  } | null;
}

export interface TimelineSnapshot {
  readonly id: string;
  readonly time: string;
  readonly kind: string | null;
  readonly files: number;
  readonly logicalBytes: number;
  readonly newBytesStored: number;
  /** The last restore drill's outcome; null when none ran. */
  readonly proof: SnapshotProof | null;
}

/** Snapshots shown per component: a timeline, not the archive's whole listing. */
export const SNAPSHOTS_SHOWN = 30;

export interface DashboardSourceOptions {
  readonly pipeline: Pipeline;
  readonly archive: Archive;
  /** Values replaced by `***` wherever they appear (secret-redactor.ts). */
  readonly secrets: readonly string[];
  /** How long a read waits for Redis, or for the archive's first listing. Default: 5 000 ms. */
  readonly answerWithinMs?: number;
  /** The archive is listed again after this long even when no new snapshot was recorded (proofs, forget). Default: 60 000 ms. */
  readonly archiveMaxAgeMs?: number;
}

/**
 * Reads the dashboard's data. The registry is read on every call (a few Redis
 * commands); the archive, a listing of sealed objects, only when the registry
 * records a snapshot it has not seen, or once `archiveMaxAgeMs` passed, and in the
 * background: a slow archive never holds the registry's picture back. Concurrent
 * calls share one read of each.
 */
export class DashboardSource {
  private readonly answerWithinMs: number;
  private readonly archiveMaxAgeMs: number;
  private statusRead:
    | Promise<{ status: FullStatus; recentJobs: Record<string, readonly RecentJob[]> }>
    | undefined;
  private archiveRead: Promise<void> | undefined;
  private timeline:
    | { readonly data: Record<string, ComponentTimeline>; readonly at: number; readonly seen: string }
    | undefined;
  private archiveError: string | undefined;
  private readonly closed = new AbortController();

  constructor(private readonly options: DashboardSourceOptions) {
    this.answerWithinMs = options.answerWithinMs ?? 5_000;
    this.archiveMaxAgeMs = options.archiveMaxAgeMs ?? 60_000;
  }

  async read(): Promise<DashboardData> {
    let status: FullStatus | null = null;
    let recentJobs: Record<string, readonly RecentJob[]> = {};
    let statusError: string | undefined;
    try {
      this.statusRead ??= this.readRegistry().finally(() => {
        this.statusRead = undefined;
      });
      ({ status, recentJobs } = await within(
        this.statusRead,
        this.answerWithinMs,
        `redis did not answer within ${this.answerWithinMs / 1000} s`,
      ));
    } catch (error) {
      statusError = `cannot read the registry: ${messageOf(error)}`;
    }
    const seen = status === null ? undefined : lastSnapshotsOf(status);
    const stale =
      this.timeline === undefined ||
      Date.now() - this.timeline.at >= this.archiveMaxAgeMs ||
      (seen !== undefined && seen !== this.timeline.seen);
    if (stale) {
      const reading = this.readArchive(seen ?? this.timeline?.seen ?? '');
      if (this.timeline === undefined) await within(reading, this.answerWithinMs, '').catch(() => {});
    }
    const data: DashboardData = {
      at: new Date().toISOString(),
      status,
      ...(statusError === undefined ? {} : { statusError }),
      recentJobs,
      timelines: this.timeline?.data ?? {},
      archiveReadAt: this.timeline === undefined ? null : new Date(this.timeline.at).toISOString(),
      ...(this.archiveError === undefined
        ? {}
        : { archiveError: `cannot read the archive: ${this.archiveError}` }),
    };
    return redactSecrets(data, this.options.secrets);
  }

  /** Stops a listing of the archive under way. */
  close(): void {
    this.closed.abort();
  }

  private async readRegistry(): Promise<{
    status: FullStatus;
    recentJobs: Record<string, readonly RecentJob[]>;
  }> {
    const status = await this.options.pipeline.readStatus();
    return { status, recentJobs: await readRecentJobs(this.options.pipeline, status) };
  }

  private readArchive(seen: string): Promise<void> {
    this.archiveRead ??= (async () => {
      try {
        const timeline = await readSnapshotTimeline(this.options.archive, { signal: this.closed.signal });
        this.timeline = { data: byComponent(timeline), at: Date.now(), seen };
        this.archiveError = undefined;
      } catch (error) {
        this.archiveError = messageOf(error);
      } finally {
        this.archiveRead = undefined;
      }
    })();
    return this.archiveRead;
  }
}

function byComponent(timeline: SnapshotTimeline): Record<string, ComponentTimeline> {
  const groups = new Map<string, Snapshot[]>();
  // Snapshots of no component (`backup files PATH`) belong to no section of the page.
  for (const snapshot of timeline.snapshots) {
    const component = snapshot.tags.component;
    if (component === undefined) continue;
    groups.set(component, [...(groups.get(component) ?? []), snapshot]);
  }
  const result: Record<string, ComponentTimeline> = {};
  for (const [component, snapshots] of groups) {
    const newest = snapshots.slice(-SNAPSHOTS_SHOWN).reverse();
    const range = timeline.ranges.get(component);
    result[component] = {
      snapshots: newest.map((snapshot) => ({
        id: snapshot.id,
        time: snapshot.time,
        kind: snapshot.tags.kind ?? null,
        files: snapshot.stats.files,
        logicalBytes: snapshot.stats.logicalBytes,
        newBytesStored: snapshot.stats.newBytesStored,
        proof: timeline.proofs.get(snapshot.id) ?? null,
      })),
      older: snapshots.length - newest.length,
      restorable: range === undefined ? null : { ranges: range.ranges, gaps: range.gaps },
    };
  }
  return result;
}

/** The registry's last snapshot per component: when it changes, the archive has a new one. */
function lastSnapshotsOf(status: FullStatus): string {
  return status.components
    .map((component) => `${component.name}=${component.lastSnapshot?.id ?? ''}`)
    .join(',');
}

function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
