import type { PgEndpoint } from './connection.js';
import { type QueryOptions, query } from './query.js';
import { sqlLiteral } from './sql-literal.js';

/** What `ensureWalSlot` found and did. */
export interface WalSlotState {
  /** The slot was lost and is new, reserving WAL from `restartLsn` on. */
  readonly recreated: boolean;
  readonly restartLsn: string;
}

/**
 * Makes sure physical slot `slot` exists and reserves WAL (created with
 * `immediately_reserve`, as `pg_receivewal --create-slot` does). A slot PostgreSQL
 * invalidated (`wal_status = lost`, max_slot_wal_keep_size exceeded) is dropped and
 * created again at the current position. A process
 * still using the slot is ended first: only the lease holder streams (a receiver left
 * behind by a dead worker would otherwise hold it).
 */
export async function ensureWalSlot(
  endpoint: PgEndpoint,
  slot: string,
  options: QueryOptions = {},
): Promise<WalSlotState> {
  const name = sqlLiteral(slot);
  const found = await query(
    endpoint,
    `select coalesce(wal_status, ''), coalesce(active_pid::text, '') from pg_replication_slots where slot_name = ${name}`,
    options,
  );
  const [walStatus, activePid] = found === '' ? [] : found.split('|');
  if (activePid !== undefined && activePid !== '') {
    await query(endpoint, `select pg_terminate_backend(${Number(activePid)}, 5000)`, options);
  }
  const recreate = walStatus === 'lost';
  if (recreate) await dropWhenInactive(endpoint, name, options);
  if (walStatus === undefined || recreate) {
    const restartLsn = await query(
      endpoint,
      `select coalesce(lsn::text, pg_current_wal_lsn()::text) from pg_create_physical_replication_slot(${name}, true)`,
      options,
    );
    return { recreated: recreate, restartLsn };
  }
  const restartLsn = await query(
    endpoint,
    `select coalesce(restart_lsn::text, pg_current_wal_lsn()::text) from pg_replication_slots where slot_name = ${name}`,
    options,
  );
  return { recreated: false, restartLsn };
}

/** A terminated walsender lets its slot go a moment later: drop once it has. */
async function dropWhenInactive(endpoint: PgEndpoint, name: string, options: QueryOptions): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const active = await query(
      endpoint,
      `select active_pid from pg_replication_slots where slot_name = ${name} and active`,
      options,
    );
    if (active === '' || attempt >= 50) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await query(endpoint, `select pg_drop_replication_slot(${name})`, options);
}
