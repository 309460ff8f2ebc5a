import type { WalSourceStatus } from '@pullback/pipeline/core';
import type { PgEndpoint } from './connection.js';
import { type QueryOptions, queryJson } from './query.js';
import { sqlLiteral } from './sql-literal.js';

/** The application name the receiver connects with: how pg_stat_replication and synchronous_standby_names know it. */
export function walReceiverName(component: string): string {
  return `pullback_${component}`.slice(0, 63);
}

/**
 * The active's side of the WAL stream in one statement: identity, position (the
 * timeline from the current WAL file's name, right after a promotion too), the slot,
 * and the receiver's row in pg_stat_replication. Needs a superuser or pg_monitor.
 */
export async function walSourceStatus(
  endpoint: PgEndpoint,
  slot: string,
  applicationName: string,
  options: QueryOptions = {},
  /** The export agent's slot (`exportSlotName`): it holds WAL back too, between exports. */
  exportSlot?: string,
): Promise<WalSourceStatus> {
  const heldBy = (name: string) => `(select pg_wal_lsn_diff(
      case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end,
      restart_lsn)::bigint
    from pg_replication_slots where slot_name = ${sqlLiteral(name)})`;
  const sql = `select json_strip_nulls(json_build_object(
  'systemIdentifier', (select system_identifier::text from pg_control_system()),
  'inRecovery', pg_is_in_recovery(),
  'timeline', case when pg_is_in_recovery()
    then (select timeline_id from pg_control_checkpoint())
    else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end,
  'currentLsn', case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end,
  'maxSlotWalKeepSize', current_setting('max_slot_wal_keep_size'),
  'slotStatus', (select wal_status from pg_replication_slots where slot_name = ${sqlLiteral(slot)}),
  'slotRetainedBytes', ${heldBy(slot)},${
    exportSlot === undefined
      ? ''
      : `
  'exportSlot', (select json_build_object('name', slot_name, 'status', wal_status, 'retainedBytes', ${heldBy(exportSlot)})
    from pg_replication_slots where slot_name = ${sqlLiteral(exportSlot)}),`
  }
  'replication', (select json_build_object('state', state, 'flushLsn', flush_lsn::text, 'syncState', sync_state)
    from pg_stat_replication where application_name = ${sqlLiteral(applicationName)}
    order by backend_start desc limit 1)
))`;
  return queryJson<WalSourceStatus>(endpoint, sql, options);
}
