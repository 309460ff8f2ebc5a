import type { ArtifactKind } from '../artifact/format.js';
import type { InstanceRole } from '../config/schema.js';

/*
 * What the registry holds, as the workers write it and `pullback status` reads it.
 * Times are ISO 8601 strings.
 */

/** The last export of a component, successful or not. */
export interface ExportRecord {
  readonly exportId: string;
  /** Absent: physical. */
  readonly kind?: ArtifactKind;
  readonly instance?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ok: boolean;
  /** Why it failed (one line), when it did. */
  readonly reason?: string;
  /** Bytes the artifact holds. */
  readonly bytes?: number;
  /**
   * Pages whose checksum was wrong (the agent's own backup, docs/exports.md), the first
   * CORRUPT_PAGES_KEPT of them; the snapshot of `exportId` holds them as they were read.
   */
  readonly corruptPages?: readonly { readonly file: string; readonly block: number }[];
  /** How many there were in all. */
  readonly corruptPageCount?: number;
}

/** Corrupt pages an export record keeps. */
export const CORRUPT_PAGES_KEPT = 20;

/** The last snapshot of a kind committed for a component. */
export interface SnapshotRecord {
  readonly id: string;
  /** Absent: physical (records written before logical exports could be asked for). */
  readonly kind?: ArtifactKind;
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
  /** Where its WAL comes from now: the active (streaming), the archive (restore_command), or nowhere. */
  readonly source?: 'streaming' | 'archive' | 'none';
  /** The active's current LSN less the replayed one, in bytes, when the active could be asked. */
  readonly behindBytes?: number;
  /** The timeline it replays. */
  readonly timeline?: number;
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

/** A stretch of WAL the archive does not hold: nothing in it can be restored to. */
export interface WalGap {
  readonly timeline: number;
  /** The first missing byte (LSN). */
  readonly fromLsn: string;
  /** The first byte held again (LSN). */
  readonly toLsn: string;
  /** Restorable up to this time before the gap, and again from this time after it, when known. */
  readonly fromTime?: string;
  readonly toTime?: string;
  /** Why: `slot-lost` (the active recycled WAL the receiver had not read), `missing` (found by a check of the archive). */
  readonly cause: 'slot-lost' | 'missing';
  readonly detectedAt: string;
}

/** The WAL receiver of a component, as its holder last reported it (docs/wal.md). */
export interface WalReceiverState {
  /** Which pull-backup worker runs it: `<hostname>:<pid>`. */
  readonly holder: string;
  /** The instance it streams from. */
  readonly source?: string;
  readonly streaming: boolean;
  readonly synchronous: boolean;
  readonly slot: string;
  /** The archive's WAL stream, `<component>.<systemIdentifier>`. */
  readonly stream?: string;
  readonly timeline?: number;
  /** Flushed to the pull side's spool. */
  readonly flushedLsn?: string;
  /** The end of what the archive holds (the partial segment included), and when it was stored. */
  readonly archivedLsn?: string;
  readonly archivedAt?: string;
  /** The active's current LSN when last asked. */
  readonly activeLsn?: string;
  /** activeLsn less archivedLsn. */
  readonly behindBytes?: number;
  /** Seconds since the archive last caught up with the active. */
  readonly behindSeconds?: number;
  /** WAL the slot holds back on the active (current LSN less the slot's restart_lsn). */
  readonly slotRetainedBytes?: number;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved, lost. */
  readonly slotStatus?: string;
  /** The active's max_slot_wal_keep_size; `-1` (unlimited) is warned about. */
  readonly maxSlotWalKeepSize?: string;
  /**
   * The export agent's slot on the active (its own incremental export), which holds
   * the WAL since the last export: it grows while exports do not run.
   */
  readonly exportSlot?: { readonly name: string; readonly status?: string; readonly retainedBytes?: number };
  /** Synchronous mode with the receiver not streaming: the active's commits block. */
  readonly blockingWrites?: boolean;
  /** Why it is not streaming (one line). */
  readonly reason?: string;
  readonly updatedAt: string;
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
  /** The last physical snapshot: the one fallbacks are brought to. */
  readonly lastSnapshot?: SnapshotRecord;
  /** The last logical snapshot (docs/exports.md). */
  readonly lastLogicalSnapshot?: SnapshotRecord;
  /** Postgres components with WAL: the receiver's last report. */
  readonly walReceiver?: WalReceiverState;
  /** Stretches of WAL the archive lacks, oldest first. */
  readonly walGaps?: readonly WalGap[];
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

/** An instance's agent, as its last heartbeat said (docs/election.md). */
export interface AgentReport {
  /** Which process runs the agent: `<hostname>:<pid>`. */
  readonly holder: string;
  /** The role the agent runs its instance in now. */
  readonly role: InstanceRole;
  /** The epoch recorded on the instance. */
  readonly epoch: number;
  readonly serverRunning: boolean;
  /** When the agent sent it, by its own clock. */
  readonly at: string;
}

/** An agent's last heartbeat and how long ago Redis received it (Redis's clock). */
export interface AgentHeartbeat extends AgentReport {
  readonly ageMs: number;
}

/** One activation of a fallback, kept (the newest few) for `status`. */
export interface ActivationRecord {
  /** The epoch the new active took. */
  readonly epoch: number;
  /** The former active, when there was one. */
  readonly from?: string;
  readonly to: string;
  readonly at: string;
  /** Why (one line): `failover: shop-a failed`, `switchover`, `by hand --force`. */
  readonly reason: string;
  /** Who activated: the election worker `<hostname>:<pid>`, or `cli`. */
  readonly by: string;
  /** Bytes of the former active's WAL the new one never received, when known. */
  readonly lostBytes?: number;
}

/**
 * What is recorded of a component outside Redis, which a registry restored after Redis
 * lost it must not fall behind: the highest epoch (the instances' epoch records, the
 * archive's snapshots) and, when the instances' records know it, the instance they
 * name active at that epoch. A bare number is an epoch with no active known.
 */
export type RecordedEpoch = number | { readonly epoch: number; readonly active?: string };
