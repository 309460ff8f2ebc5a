import type { PgEndpoint } from '../connection.js';
import { type QueryOptions, query } from '../query.js';
import { sqlLiteral } from '../sql-literal.js';

/**
 * The physical slot that keeps, on the active, the WAL from one own export's start to
 * the next's: its records name every block changed between them, so the next export
 * reads only those (docs/exports.md, "The agent's own export"). Like the receiver's
 * slot it is bounded by max_slot_wal_keep_size, and a lost one only costs the next
 * export a read of the changed files.
 */
export function exportSlotName(component: string): string {
  return `pullback_export_${component.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** Once an export is the next one's parent: the slot holds WAL from its start on, and no earlier. */
export async function advanceExportSlot(
  endpoint: PgEndpoint,
  component: string,
  startLsn: string,
  options: QueryOptions = {},
): Promise<void> {
  const slot = sqlLiteral(exportSlotName(component));
  await query(
    endpoint,
    `select pg_replication_slot_advance(slot_name, ${sqlLiteral(startLsn)}::pg_lsn) from pg_replication_slots
      where slot_name = ${slot} and restart_lsn < ${sqlLiteral(startLsn)}::pg_lsn`,
    options,
  );
}

/** An export that does not take the own backup holds no WAL for one. */
export async function dropExportSlot(
  endpoint: PgEndpoint,
  component: string,
  options: QueryOptions = {},
): Promise<void> {
  await query(
    endpoint,
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots
      where slot_name = ${sqlLiteral(exportSlotName(component))} and not active`,
    options,
  );
}
