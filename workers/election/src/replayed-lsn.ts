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
