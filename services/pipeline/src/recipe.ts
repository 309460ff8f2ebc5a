import type { PageChecksums, SourceEntry } from '@pullback/archive';
import type { ArtifactKind, ArtifactManifest } from './artifact/format.js';
import type { Outbox } from './artifact/outbox.js';
import type { SnapshotDescription } from './domain/snapshot-description.js';

/*
 * The recipe contract: what the export, pull-backup and import workers may ask of a
 * recipe (`recipes/postgres`, `recipes/files`). Recipes are the only code that knows a
 * component's tools; workers only know this file. What a recipe leaves in the outbox,
 * the artifact, is defined in `artifact/format.ts`.
 */

/** Where an instance is. `InstanceConfig` from the config fits as is. */
export interface InstanceLocation {
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  /** The data directory on the instance's host. */
  readonly dataDir: string;
}

/** What a long export reports as it goes; `bytesTotal` is an estimate when known. */
export interface ExportProgress {
  /** Bytes written to the outbox so far, all objects together. */
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  /** The object being written. */
  readonly object: string;
}

/** Whether a recipe takes the backup itself (`ExportInput.ownBackup`). */
export type OwnBackupChoice = boolean | 'where-possible';

export interface ExportInput {
  /** The component's name, recorded in the artifact. */
  readonly component: string;
  /** The instance to export (postgres: the active). */
  readonly instance?: InstanceLocation;
  /** The directory tree to export (files). */
  readonly path?: string;
  readonly outbox: Outbox;
  /** Names the artifact: `[A-Za-z0-9][A-Za-z0-9._-]*`, unique per export. */
  readonly exportId: string;
  /** Default: the recipe's first kind. */
  readonly kind?: ArtifactKind;
  /** A logical export's databases (postgres: the config's `logical.databases`). Default: every database. */
  readonly databases?: readonly string[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ExportProgress) => void;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
  /** Read everything, whatever the recipe's record of the previous export says (`export --full`). Default: false. */
  readonly full?: boolean;
  /**
   * The agent's own state directory: where a recipe keeps its record of the previous
   * export on this host (postgres: docs/exports.md). Without it every export is full.
   */
  readonly stateDir?: string;
  /**
   * The export id of the component's newest snapshot of this kind in the archive, when
   * the caller knows it (null: it has none): an incremental export is then taken only
   * on top of that export. Unknown: the pull checks it (and refuses a wrong parent).
   */
  readonly newestExportId?: string | null;
  /**
   * Take the backup by reading the instance's files on this host when the recipe can
   * (postgres): `true` warns when it cannot, `'where-possible'` falls back quietly,
   * `false` never tries. Default: the recipe's.
   */
  readonly ownBackup?: OwnBackupChoice;
  /** With `ownBackup`: a full read at least this often (ms), incremental exports between. Default: the recipe's. */
  readonly fullReadEveryMs?: number;
  /**
   * Given by the one-shot `pullback backup`, which pulls in the same process: a recipe
   * that reads every file itself may archive them where they lie as it reads them,
   * instead of writing them into the outbox for the pull to read back. Default: none.
   */
  readonly inPlace?: InPlaceArchive;
}

/**
 * Archives an export's files where they lie on this host while the export holds them
 * consistent (postgres: inside the backup window), as the snapshot the pull of its
 * artifact would make: nothing goes through the outbox. The export then returns a
 * manifest with no objects, and no artifact is left to pull.
 */
export interface InPlaceArchive {
  /** Resolves once the snapshot is committed. */
  archive(tree: InPlaceTree): Promise<void>;
}

export interface InPlaceTree {
  /** The entries read first, in tree order, the root ("") first, with absolute paths on this host; called again for each pass. */
  readonly entries: () => AsyncIterable<SourceEntry>;
  /** Relation files' pages checked against PostgreSQL's data checksums as they are read. */
  readonly pageChecksums?: PageChecksums;
  /**
   * About what the archive will read: whole files' bytes (the late ones' included) and
   * changed pages (`SourceEntry.changedPages`). Small work is done on the calling
   * thread, starting no worker (see `isSmallWork`). Asked when the archive first reads
   * a file, after `entries` has given its first ones (the export may still be listing
   * when `archive` is called); undefined, or absent: not small.
   */
  readonly work?: () => { readonly bytes: number; readonly pages: number } | undefined;
  /**
   * Runs once every file of `entries` is read (postgres: ends the backup window). Gives
   * the entries read after (files on this host, or texts the export writes), and what
   * COMPLETE would have said.
   */
  readonly finish: () => Promise<InPlaceFinish>;
}

export interface InPlaceFinish {
  readonly entries: readonly (SourceEntry | InPlaceText)[];
  readonly result: Pick<ArtifactManifest, 'server' | 'tablespaces' | 'details'>;
}

/** A file the export writes itself (postgres: backup_label), given as its text. */
export interface InPlaceText {
  /** Relative to the root, `/`-separated. */
  readonly path: string;
  readonly text: string;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly uid: number;
  readonly gid: number;
}

/** What the import worker hands a recipe about the fallback it is restoring. */
export interface RestoreTarget {
  readonly component: string;
  readonly instance: InstanceLocation;
  /** The active to follow while it can be reached (postgres: primary_conninfo). */
  readonly upstream?: { readonly host: string; readonly port: number; readonly user?: string };
  /** A shell command fetching archived WAL (postgres: restore_command, `%f` `%p`). */
  readonly restoreCommand?: string;
  /** Its import agent keeps the recipe's `walSpool` filled from the archive: replay from it. */
  readonly archivedWal?: boolean;
  readonly signal?: AbortSignal;
}

/** Where a running instance is, for the registry and the election. */
export interface InstancePosition {
  readonly running: boolean;
  /** True while it is a read-only standby. */
  readonly inRecovery?: boolean;
  /** The last replayed LSN (standby) or current WAL LSN (active). */
  readonly lsn?: string;
  /** When the last replayed transaction committed on the active, ISO 8601. */
  readonly replayedAt?: string;
  /** Running but not answering yet (postgres: replaying up to a consistent point). */
  readonly starting?: boolean;
  /** The timeline it replays (standby) or writes (active). */
  readonly timeline?: number;
  /** Where a standby's WAL comes from now: the active (streaming), the archive, or nowhere (stopped). */
  readonly source?: 'streaming' | 'archive' | 'none';
  /** The server lineage its data directory belongs to (postgres: pg_control's system identifier). */
  readonly systemIdentifier?: string;
  /** The upstream's current position less this one's, in bytes, when the upstream was asked. */
  readonly behindBytes?: number;
}

/** Where a fallback's restore command looks for archived WAL, and whose WAL it replays. */
export interface WalSpool {
  /** The directory the restore command takes files from and asks in (docs/wal.md "Fallbacks"). */
  readonly dir: string;
  /** The data directory's server lineage; undefined when it holds none yet. */
  readonly systemIdentifier: string | undefined;
  /**
   * The WAL segment recovery will ask for first, and the segment size, when the data
   * directory says so before its server starts (postgres: a restored snapshot's
   * backup_label, and its segment in pg_wal). Undefined otherwise.
   */
  readonly recoveryStart?: { readonly segment: string; readonly segmentSize: number };
}

/** What `restore --start` asks of a recipe: one snapshot, running read-only for an audit. */
export interface AuditInput {
  /** The snapshot's id, for messages. */
  readonly snapshotId: string;
  readonly snapshot: SnapshotDescription;
  /** A directory of the user's choice; the recipe restores the snapshot into it, or below it. */
  readonly target: string;
  readonly port: number;
  /**
   * Restores the snapshot's tree into `directory`. The caller holds the archive and
   * its key; the recipe only says where the tree goes.
   */
  restore(directory: string): Promise<void>;
  readonly signal?: AbortSignal;
}

/** A snapshot running read-only for an audit. */
export interface AuditServer {
  readonly kind: ArtifactKind;
  readonly port: number;
  /** The server's data directory. */
  readonly dataDir: string;
  /** The server's process id. */
  readonly pid: number | undefined;
  /** What to type to connect. */
  readonly connect: string;
  /** What to type to stop it. */
  readonly stopCommand: string;
  /** Logical: the databases restored. */
  readonly databases?: readonly string[];
  stop(): Promise<void>;
}

/** Where a point-in-time restore stops: PostgreSQL's recovery_target_time, _lsn, _name or _xid. */
export type RecoveryTarget =
  | { readonly kind: 'time'; readonly time: string }
  | { readonly kind: 'lsn'; readonly lsn: string }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'xid'; readonly xid: string };

/** What `restore --at/--lsn/--name/--xid` asks of a recipe (docs/wal.md, "Point-in-time restore"). */
export interface PointInTimeInput {
  readonly snapshotId: string;
  readonly snapshot: SnapshotDescription;
  /** The directory to restore into. */
  readonly target: string;
  readonly recoveryTarget: RecoveryTarget;
  /** The timeline to recover along (recovery_target_timeline). */
  readonly timeline: number;
  /** Make it writable at the target (promote) instead of pausing there read-only. */
  readonly promote: boolean;
  /** Start it on this port and wait until it reaches the target; absent: only prepare the directory. */
  readonly port?: number;
  /** Restores the base snapshot's tree into `directory` (the caller holds the archive). */
  restore(directory: string): Promise<void>;
  /** Writes the archived WAL the recovery needs into `walDirectory` (postgres: pg_wal). */
  placeWal(walDirectory: string): Promise<void>;
  readonly signal?: AbortSignal;
}

/** A point-in-time restore done: prepared, or started and at its target. */
export interface PointInTimeResult {
  readonly dataDir: string;
  /** With a port: the server, paused at the target (read-only) or promoted. */
  readonly server?: AuditServer;
  /** With a port: where replay stopped, and the commit time of the last replayed transaction. */
  readonly reached?: { readonly lsn: string; readonly replayedAt?: string; readonly timeline?: number };
}

/**
 * The servers a recipe runs from a data directory on this machine (postgres), for
 * the code that started them and must leave none behind (the demo's sandbox).
 */
export interface LocalServers {
  /** Whether a server runs on `dataDir`, and its process id. */
  status(dataDir: string): Promise<{ readonly running: boolean; readonly pid?: number }>;
  /** Stops the server on `dataDir`, if one runs. */
  stop(dataDir: string, options?: { readonly timeoutSeconds?: number }): Promise<void>;
}

/** What the pull side's WAL receiver hands a recipe (docs/wal.md). */
export interface WalStreamInput {
  readonly component: string;
  /** The live active to stream from. */
  readonly instance: InstanceLocation;
  /** The physical replication slot on the active. */
  readonly slot: string;
  /** Be a synchronous standby of the active (its commits wait for the spool). */
  readonly synchronous: boolean;
  /** Where the receiving process writes WAL files (the uploader stores and removes them). */
  readonly spoolDir: string;
  /**
   * The spool's position is no longer on the server (the last run said so): start again
   * from the slot, as after a lost slot.
   */
  readonly restartFromSlot?: boolean;
  readonly signal?: AbortSignal;
}

/** The server a WAL stream comes from, as `prepare` found it. */
export interface WalStreamStart {
  /** pg_control's system identifier: the archive's stream is `<component>.<systemIdentifier>`. */
  readonly systemIdentifier: string;
  readonly timeline: number;
  /** The server's WAL segment size in bytes. */
  readonly segmentSize: number;
  /**
   * Set when WAL was lost (a slot PostgreSQL invalidated, or a spool position the server no
   * longer has): streaming starts again at `lsn`, and what lies before it on the server is gone.
   */
  readonly restartedAt?: { readonly lsn: string; readonly cause: 'slot-lost' };
}

/** The active's side of a WAL stream, read by SQL. */
export interface WalSourceStatus {
  readonly systemIdentifier: string;
  readonly timeline: number;
  /** The active's current WAL position; absent when the server is in recovery. */
  readonly currentLsn?: string;
  readonly inRecovery: boolean;
  /** pg_replication_slots.wal_status of the slot, absent when there is no such slot. */
  readonly slotStatus?: string;
  /** currentLsn less the slot's restart_lsn. */
  readonly slotRetainedBytes?: number;
  /** max_slot_wal_keep_size as the server shows it (`-1`: unlimited). */
  readonly maxSlotWalKeepSize: string;
  /** The export agent's own slot, when it has one (it keeps the WAL since the last export). */
  readonly exportSlot?: { readonly name: string; readonly status?: string; readonly retainedBytes?: number };
  /** pg_stat_replication of the receiver: its state, flush position and sync_state. */
  readonly replication?: {
    readonly state: string;
    readonly flushLsn?: string;
    readonly syncState: string;
  };
}

/**
 * One run of a recipe's WAL receiving process against one active. `prepare` first,
 * then `receive`; `stop` ends it whenever.
 */
export interface WalStream {
  /**
   * Reads the server's identity, creates the slot if missing (a lost one is dropped,
   * created again at the current position, and the spool's partial removed), and sets
   * the server's synchronous standbys for the mode. Rejects with one line.
   */
  prepare(): Promise<WalStreamStart>;
  /**
   * Runs the receiving process into the spool. Resolves when `stop` (or the signal)
   * ended it; rejects with one line (the process's reason) when it exits by itself.
   */
  receive(): Promise<void>;
  /** The server's side of the stream now. */
  status(options?: { signal?: AbortSignal }): Promise<WalSourceStatus>;
  /** Ends the receiving process cleanly (it flushes its partial segment) and waits for it. */
  stop(): Promise<void>;
}

/**
 * A recipe. `export` is required; the import hooks are optional because restoring
 * the snapshot's files may be all an import needs (files).
 */
export interface Recipe {
  readonly name: string;
  /** The kinds it exports, the default first. */
  readonly kinds: readonly ArtifactKind[];
  /** The kinds an import restores onto a fallback (the others are for audits). */
  readonly importKinds: readonly ArtifactKind[];

  /**
   * Writes an artifact under `<exportId>/` and returns its manifest, COMPLETE written
   * last. Idempotent per export id: a complete artifact is returned as it is, and the
   * leftovers of an attempt that did not complete are removed first. On failure it
   * removes what it wrote and rejects with one clear line.
   */
  export(input: ExportInput): Promise<ArtifactManifest>;

  /** Before the archive rewrites the target: make that safe (stop a running fallback). */
  beforeRestore?(target: RestoreTarget): Promise<void>;

  /** After the archive restored a snapshot into the target: bring it into service and check it. */
  afterRestore?(target: RestoreTarget): Promise<InstancePosition>;

  /**
   * A fallback an import leaves running (it follows the active): point it at
   * `target.upstream` and its WAL source again, without a restart, so it follows the
   * current active and replays archived WAL however it was set up before.
   */
  retarget?(target: RestoreTarget): Promise<void>;

  /**
   * Where the instance is now. With `upstream` (the live active), also how far behind
   * it the instance is (`behindBytes`), when the upstream answers.
   */
  position?(
    instance: InstanceLocation,
    options?: { signal?: AbortSignal; upstream?: RestoreTarget['upstream'] },
  ): Promise<InstancePosition>;

  /**
   * A fallback's WAL spool (postgres: `<dataDir>/pg_wal/pullback-spool`), which its
   * import agent keeps filled from the archive; recipes without archived WAL have none.
   */
  walSpool?(instance: InstanceLocation): Promise<WalSpool>;

  /** Runs a snapshot read-only for an audit (`restore --start`); recipes without servers have none. */
  startAudit?(input: AuditInput): Promise<AuditServer>;

  /** Restores a snapshot and replays archived WAL up to a target (`restore --at` ...). */
  restoreToPoint?(input: PointInTimeInput): Promise<PointInTimeResult>;

  /** Marks a named point in the instance's WAL (`restore-point`); returns its LSN. */
  createRestorePoint?(
    instance: InstanceLocation,
    name: string,
    options?: { signal?: AbortSignal },
  ): Promise<string>;

  /** Streams the active's WAL into a local spool for the pull side (docs/wal.md); recipes without WAL have none. */
  streamWal?(input: WalStreamInput): WalStream;

  /** The servers it runs on this machine, for whoever must stop them (the demo's sandbox). */
  readonly localServers?: LocalServers;
}

/**
 * A failure a recipe explains: one lowercase line naming the object, and a hint the
 * user can act on. `permanent` failures will not pass by retrying the same job.
 */
export class RecipeError extends Error {
  override readonly name = 'RecipeError';
  readonly hint: string | undefined;
  readonly permanent: boolean;
  constructor(message: string, options: { hint?: string; permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.hint = options.hint;
    this.permanent = options.permanent ?? false;
  }
}

/**
 * A WAL stream's receiving process found that the WAL it must resume from is gone from
 * the server: the next run starts again from the slot (`restartFromSlot`), a gap.
 */
export class WalPositionGoneError extends RecipeError {
  readonly positionGone = true;
}
