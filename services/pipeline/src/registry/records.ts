import type { InstanceRole } from '../config/schema.js';

/*
 * What the registry holds, as the workers write it and `pullback status` reads it.
 * Times are ISO 8601 strings.
 */

/** The last export of a component, successful or not. */
export interface ExportRecord {
  readonly exportId: string;
  readonly instance?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ok: boolean;
  /** Why it failed (one line), when it did. */
  readonly reason?: string;
  /** Bytes the artifact holds. */
  readonly bytes?: number;
}

/** The last snapshot committed for a component. */
export interface SnapshotRecord {
  readonly id: string;
  /** The snapshot's time (the archive's). */
  readonly time: string;
  readonly exportId: string;
  /** The size of the snapshot's files. */
  readonly logicalBytes: number;
  /** Bytes it added to the archive. */
  readonly newBytesStored: number;
}

/** Where a fallback stands, as its import agent last reported it. */
export interface FallbackState {
  /** The snapshot its data directory holds (restored, or being restored while `healthy` is false). */
  readonly snapshotId?: string;
  readonly snapshotTime?: string;
  /** The last replayed LSN. */
  readonly lsn?: string;
  /** When the last replayed transaction committed on the active. */
  readonly replayedAt?: string;
  readonly running?: boolean;
  readonly healthy: boolean;
  /** Why it is not healthy (one line). */
  readonly reason?: string;
  readonly updatedAt: string;
}

/** Whether a snapshot has proven itself on a fallback. */
export interface SnapshotHealth {
  readonly state: 'good' | 'bad';
  /** The fallback that proved it (good) or failed with it (bad). */
  readonly instance: string;
  readonly reason?: string;
  readonly at: string;
}

export type FailureStage = 'export' | 'pull' | 'import';

/** A failed job attempt, kept (the newest few) for `status`. */
export interface FailureRecord {
  readonly stage: FailureStage;
  readonly at: string;
  readonly message: string;
  readonly jobId?: string;
  readonly instance?: string;
  /** False when the job will be retried. */
  readonly final: boolean;
}

/** A component as registered. */
export interface ComponentRecord {
  readonly name: string;
  readonly recipe: string;
  readonly schedule: string;
  readonly outbox: string;
  readonly epoch: number;
  /** The live active instance, undefined when the component has none (files without instances). */
  readonly active: string | undefined;
  readonly lastExport?: ExportRecord;
  readonly lastSnapshot?: SnapshotRecord;
}

/** An instance as registered, with its live role. */
export interface InstanceRecord {
  readonly name: string;
  readonly component: string;
  readonly role: InstanceRole;
  /** The epoch at which it took its role. */
  readonly epoch: number;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly priority: number;
  /** Fallbacks: what their import agent last reported. */
  readonly state?: FallbackState;
  /** The newest snapshot queued for it. */
  readonly queuedSnapshotId?: string;
}
