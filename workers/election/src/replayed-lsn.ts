import type { InstanceConfig } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';

/**
 * How far `instance` has replayed: `pg_last_wal_replay_lsn()` (received and applied,
 * from the active or the archive), asked over its TCP address as other observers ask
 * it; the LSN it writes at once it is no longer in recovery.
 */
export async function replayedLsn(
  instance: InstanceConfig,
  user = 'postgres',
  signal?: AbortSignal,
): Promise<string | undefined> {
  const answer = await query(
    { host: instance.host, port: instance.port, user },
    'select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end',
    { statementTimeoutMs: 5000, ...(signal === undefined ? {} : { signal }) },
  );
  return answer === '' ? undefined : answer;
}

/**
 * The timeline `instance` replays (or writes): the newest of its checkpoint's and of
 * the history files in its pg_wal (a standby follows the newest it knows). Undefined
 * when it cannot be asked so (pg_ls_waldir needs pg_monitor or a superuser).
 */
export async function replayedTimeline(
  instance: InstanceConfig,
  user = 'postgres',
  signal?: AbortSignal,
): Promise<number | undefined> {
  const answer = await query(
    { host: instance.host, port: instance.port, user },
    `select greatest((select timeline_id from pg_control_checkpoint()),
       (select max(('x' || substr(name, 1, 8))::bit(32)::int) from pg_ls_waldir()
         where name ~ '^[0-9A-F]{8}\\.history$'))`,
    { statementTimeoutMs: 5000, ...(signal === undefined ? {} : { signal }) },
  ).catch(() => '');
  const timeline = Number.parseInt(answer, 10);
  return Number.isInteger(timeline) && timeline > 0 ? timeline : undefined;
}
