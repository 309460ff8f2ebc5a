import pg from 'pg';
import { CONNECT_TIMEOUT_SECONDS, type PgEndpoint } from './connection.js';

/**
 * One small connection pool per server, database and statement timeout, shared by
 * every query of this process (position reports, export facts, standby checks).
 * Idle connections close after IDLE_MS and never keep the process alive
 * (`allowExitOnIdle`), so a command or test that forgets `closePools` still exits.
 */
const pools = new Map<string, pg.Pool>();

/** Two: the position reporter and an export may query one server at once. */
const MAX_CONNECTIONS = 2;
const IDLE_MS = 30_000;

export function poolFor(endpoint: PgEndpoint, database: string, statementTimeoutMs: number): pg.Pool {
  const user = endpoint.user ?? 'postgres';
  const key = JSON.stringify([endpoint.host, endpoint.port, user, database, statementTimeoutMs]);
  let pool = pools.get(key);
  if (pool === undefined) {
    pool = new pg.Pool({
      // A host starting with `/` is a Unix socket directory, as for libpq.
      host: endpoint.host,
      port: endpoint.port,
      user,
      database,
      application_name: 'pullback',
      connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
      statement_timeout: statementTimeoutMs,
      max: MAX_CONNECTIONS,
      idleTimeoutMillis: IDLE_MS,
      allowExitOnIdle: true,
    });
    // An idle connection the server ends (a restart, pg_ctl stop) is dropped by the
    // pool; without a listener the event would crash the process.
    pool.on('error', () => {});
    // From its first moment out of the pool: a backend ended right after it started
    // (pg_terminate_backend in a demotion, a fast shutdown) can send its FATAL in the same
    // packet as ReadyForQuery, before the caller of connect() could add a listener.
    pool.on('connect', (client) => client.on('error', () => {}));
    pools.set(key, pool);
  }
  return pool;
}

/** Closes every pool (their connections end); the next query opens a new one. */
export async function closePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.end()));
}
