import type { OsAccount } from './os-user.js';
import { runTool } from './run-tool.js';
import { pgTool } from './tools.js';

/** How to reach a server: TCP host or Unix socket directory, port, role. */
export interface PgEndpoint {
  /** A host name or address, or a Unix socket directory (an absolute path). */
  readonly host: string;
  readonly port: number;
  /** Default: `postgres`. Passwords come from libpq's environment (PGPASSWORD, ~/.pgpass). */
  readonly user?: string;
}

/** Fails fast on an unreachable host instead of libpq's default of waiting forever. */
const CONNECT_TIMEOUT_SECONDS = 10;

/** Where the endpoint is, for messages. */
export function describeEndpoint(endpoint: PgEndpoint): string {
  return endpoint.host.startsWith('/')
    ? `${endpoint.host}/.s.PGSQL.${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/**
 * A libpq key/value connection string. Values are quoted, so a database named
 * `a=b` or a socket path with spaces cannot be mistaken for other keys.
 */
export function conninfo(
  endpoint: PgEndpoint,
  database = 'postgres',
  extra: Record<string, string> = {},
): string {
  const pairs: Record<string, string> = {
    host: endpoint.host,
    port: String(endpoint.port),
    user: endpoint.user ?? 'postgres',
    dbname: database,
    connect_timeout: String(CONNECT_TIMEOUT_SECONDS),
    application_name: 'pullback',
    ...extra,
  };
  return Object.entries(pairs)
    .map(([key, value]) => `${key}=${quoteConninfoValue(value)}`)
    .join(' ');
}

export function quoteConninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface QueryOptions {
  readonly database?: string;
  readonly signal?: AbortSignal;
  /** Run psql as this account (peer authentication on a local socket). */
  readonly as?: OsAccount;
  readonly binDir?: string;
}

/** Runs `sql` through psql and returns its unaligned, tuples-only output, trimmed. */
export async function query(endpoint: PgEndpoint, sql: string, options: QueryOptions = {}): Promise<string> {
  const psql = await pgTool('psql', options.binDir);
  const output = await runTool(
    `psql on ${describeEndpoint(endpoint)}`,
    [
      psql,
      '-X',
      '-A',
      '-t',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      conninfo(endpoint, options.database),
      '-c',
      sql,
    ],
    options,
  );
  return output.trim();
}

/** Runs a query returning one JSON value (`select json_build_object(...)`) and parses it. */
export async function queryJson<T>(
  endpoint: PgEndpoint,
  sql: string,
  options: QueryOptions = {},
): Promise<T> {
  return JSON.parse(await query(endpoint, sql, options)) as T;
}
