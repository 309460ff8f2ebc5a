import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CONNECT_TIMEOUT_SECONDS, describeEndpoint, type PgEndpoint } from '../connection.js';
import { queryError } from '../query-error.js';

/** What the server says when the backup starts. */
export interface BackupStart {
  readonly startLsn: string;
  /** The timeline the backup starts on. */
  readonly timeline: number;
  /** `block_size`, `wal_segment_size` (bytes) and whether the cluster has data checksums. */
  readonly blockSize: number;
  readonly walSegmentSize: number;
  readonly dataChecksums: boolean;
}

/** What pg_backup_stop answers: the end of the WAL the backup needs, and the files to write into it. */
export interface BackupStop {
  readonly stopLsn: string;
  readonly backupLabel: string;
  /** Empty without tablespaces. */
  readonly tablespaceMap: string;
}

/**
 * A non-exclusive base backup on one held connection, as pgBackRest takes them:
 * `pg_backup_start` and `pg_backup_stop` must run in the same session, and a session
 * that ends (the agent dies, `close`, the signal) aborts the backup on the server, so
 * nothing is left behind. Before the start, a temporary physical slot (dropped with
 * the session) reserves the WAL from then on, so no segment the backup needs is
 * recycled before the agent has copied it out of pg_wal.
 */
export class BackupSession {
  private constructor(
    private readonly client: pg.Client,
    private readonly where: string,
  ) {}

  static async open(endpoint: PgEndpoint, signal?: AbortSignal): Promise<BackupSession> {
    signal?.throwIfAborted();
    const where = describeEndpoint(endpoint);
    const client = new pg.Client({
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user ?? 'postgres',
      database: 'postgres',
      application_name: 'pullback backup',
      connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      throw queryError(`connecting to ${where}`, error);
    }
    const session = new BackupSession(client, where);
    signal?.addEventListener('abort', () => void session.close(), { once: true });
    return session;
  }

  /** Reserves WAL, then starts the backup with a fast checkpoint. */
  async start(label: string): Promise<BackupStart> {
    const slot = `pullback_backup_${randomBytes(6).toString('hex')}`;
    await this.run('select pg_create_physical_replication_slot($1, true, true)', [slot]);
    const [row] = await this.run(
      `select pg_backup_start($1, true)::text, current_setting('block_size'),
              current_setting('wal_segment_size'), current_setting('data_checksums')`,
      [label],
    );
    const [startLsn, blockSize, walSegmentSize, checksums] = row as string[];
    // The start's checkpoint is on the timeline the server writes.
    const [timeline] = (await this.run('select timeline_id from pg_control_checkpoint()', []))[0] ?? [];
    return {
      startLsn: startLsn!,
      timeline: Number(timeline),
      blockSize: Number(blockSize),
      walSegmentSize: bytesOf(walSegmentSize!),
      dataChecksums: checksums === 'on',
    };
  }

  /** Ends the backup without waiting for WAL archiving: the agent copies the WAL itself. */
  async stop(): Promise<BackupStop> {
    const [row] = await this.run('select lsn::text, labelfile, spcmapfile from pg_backup_stop(false)', []);
    const [stopLsn, backupLabel, tablespaceMap] = row as string[];
    return { stopLsn: stopLsn!, backupLabel: backupLabel!, tablespaceMap: tablespaceMap ?? '' };
  }

  /** Ends the session: a backup still running is aborted by the server, the slot dropped. */
  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }

  private async run(sql: string, values: readonly string[]): Promise<(string | null)[][]> {
    try {
      const result = await this.client.query({ text: sql, values: [...values], rowMode: 'array' });
      return result.rows as (string | null)[][];
    } catch (error) {
      throw queryError(`backup on ${this.where}`, error);
    }
  }
}

/** A size setting as current_setting prints it (`16MB`), in bytes. */
function bytesOf(setting: string): number {
  const match = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(setting.trim());
  if (match === null) throw new Error(`unexpected size setting ${JSON.stringify(setting)}`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2] ?? 'B'] ?? 1;
  return Number(match[1]) * unit;
}
