import { describeEndpoint, type PgEndpoint } from './connection.js';
import { queryJson } from './query.js';

/** What an export records about the server, read over SQL before (and after) it runs. */
export interface ServerFacts {
  /** pg_control's system identifier, a 64-bit integer as a decimal string. */
  readonly systemIdentifier: string;
  /** The timeline of the last checkpoint. */
  readonly timeline: number;
  readonly serverVersion: number;
  readonly inRecovery: boolean;
  /** Current WAL position (replayed position on a standby). */
  readonly lsn: string;
  /** All databases together, a progress estimate. */
  readonly bytes: number;
  /** Tablespaces other than pg_default and pg_global. */
  readonly tablespaces: number;
  /** Those tablespaces: OID (decimal) to location. */
  readonly tablespaceLocations: Readonly<Record<string, string>>;
}

const SQL = `select json_build_object(
  'systemIdentifier', (select system_identifier::text from pg_control_system()),
  'timeline', (select timeline_id from pg_control_checkpoint()),
  'serverVersion', current_setting('server_version_num')::int,
  'inRecovery', pg_is_in_recovery(),
  'lsn', (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text,
  'bytes', (select sum(pg_database_size(oid)) from pg_database where datallowconn)::bigint,
  'tablespaces', (select count(*) from pg_tablespace where spcname not in ('pg_default', 'pg_global')),
  'tablespaceLocations', (select coalesce(json_object_agg(oid::text, pg_tablespace_location(oid)), '{}')
    from pg_tablespace where spcname not in ('pg_default', 'pg_global'))
)`;

/**
 * Reads the server's identity and position. Needs a superuser or a role with
 * pg_monitor (pg_control_system and pg_database_size are restricted).
 */
export async function serverFacts(
  endpoint: PgEndpoint,
  options: { signal?: AbortSignal; binDir?: string } = {},
): Promise<ServerFacts> {
  const facts = await queryJson<ServerFacts>(endpoint, SQL, options);
  if (typeof facts.systemIdentifier !== 'string' || typeof facts.lsn !== 'string') {
    throw new Error(`${describeEndpoint(endpoint)} did not report its system identifier and wal position`);
  }
  return facts;
}
