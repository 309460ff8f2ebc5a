import type { InstancePosition } from '@pullback/pipeline';
import type { PgEndpoint } from './connection.js';
import type { OsAccount } from './os-user.js';
import { queryJson } from './query.js';

const SQL = `select json_build_object(
  'inRecovery', pg_is_in_recovery(),
  'lsn', (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text,
  'replayedAt', pg_last_xact_replay_timestamp()
)`;

/**
 * Where a running server is: on a standby the last replayed LSN
 * (pg_last_wal_replay_lsn) and the commit time of the last replayed transaction, on
 * a primary its current WAL position.
 */
export async function serverPosition(
  endpoint: PgEndpoint,
  options: { as?: OsAccount; binDir?: string; signal?: AbortSignal } = {},
): Promise<InstancePosition> {
  const row = await queryJson<{ inRecovery: boolean; lsn: string | null; replayedAt: string | null }>(
    endpoint,
    SQL,
    options,
  );
  return {
    running: true,
    inRecovery: row.inRecovery,
    ...(row.lsn === null ? {} : { lsn: row.lsn }),
    ...(row.replayedAt === null ? {} : { replayedAt: new Date(row.replayedAt).toISOString() }),
  };
}
