import type { InstancePosition } from '@pullback/pipeline/core';
import type { PgEndpoint } from './connection.js';
import { lsnToBigInt } from './lsn.js';
import type { OsAccount } from './os-user.js';
import { queryJson } from './query.js';

/*
 * The timeline: a standby's receiver knows the one it streams; otherwise the last
 * checkpoint's (a restartpoint on a standby) is the best SQL can tell.
 */
const SQL = `select json_build_object(
  'inRecovery', pg_is_in_recovery(),
  'lsn', (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text,
  'replayedAt', pg_last_xact_replay_timestamp(),
  'streaming', exists (select 1 from pg_stat_wal_receiver where status = 'streaming'),
  'timeline', coalesce((select received_tli from pg_stat_wal_receiver where status = 'streaming'),
                       (select timeline_id from pg_control_checkpoint())),
  'systemIdentifier', (select system_identifier from pg_control_system())::text
)`;

/**
 * Where a running server is: on a standby the last replayed LSN
 * (pg_last_wal_replay_lsn), the commit time of the last replayed transaction and
 * where its WAL comes from (`streaming` when its WAL receiver streams, else the
 * archive), on a primary its current WAL position.
 */
export async function serverPosition(
  endpoint: PgEndpoint,
  options: { as?: OsAccount; binDir?: string; signal?: AbortSignal } = {},
): Promise<InstancePosition> {
  const row = await queryJson<{
    inRecovery: boolean;
    lsn: string | null;
    replayedAt: string | null;
    streaming: boolean;
    timeline: number | null;
    systemIdentifier: string;
  }>(endpoint, SQL, options);
  return {
    running: true,
    inRecovery: row.inRecovery,
    ...(row.lsn === null ? {} : { lsn: row.lsn }),
    ...(row.replayedAt === null ? {} : { replayedAt: new Date(row.replayedAt).toISOString() }),
    ...(row.inRecovery ? { source: row.streaming ? 'streaming' : 'archive' } : {}),
    ...(row.timeline === null ? {} : { timeline: row.timeline }),
    systemIdentifier: row.systemIdentifier,
  };
}

/** `upstream`'s current WAL position less `lsn`, in bytes (never below 0); undefined when it cannot be asked. */
export async function bytesBehind(
  upstream: PgEndpoint,
  lsn: string,
  options: { signal?: AbortSignal } = {},
): Promise<number | undefined> {
  try {
    const current = await queryJson<string>(upstream, 'select to_json(pg_current_wal_lsn()::text)', {
      ...options,
      statementTimeoutMs: 5_000,
    });
    const behind = lsnToBigInt(current) - lsnToBigInt(lsn);
    return behind > 0n ? Number(behind) : 0;
  } catch {
    // Unreachable, or no longer a primary: no figure is better than a wrong one.
    return undefined;
  }
}
