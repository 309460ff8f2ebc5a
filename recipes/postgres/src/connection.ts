/** How to reach a server: TCP host or Unix socket directory, port, role. */
export interface PgEndpoint {
  /** A host name or address, or a Unix socket directory (an absolute path). */
  readonly host: string;
  readonly port: number;
  /** Default: `postgres`. Passwords come from libpq's environment (PGPASSWORD, ~/.pgpass). */
  readonly user?: string;
}

/**
 * Fails fast on an unreachable host instead of libpq's default of waiting forever;
 * the tools (pg_basebackup, pg_dump) and the driver's pools (pools.ts) alike.
 */
export const CONNECT_TIMEOUT_SECONDS = 10;

/** Where the endpoint is, for messages. */
export function describeEndpoint(endpoint: PgEndpoint): string {
  return endpoint.host.startsWith('/')
    ? `${endpoint.host}/.s.PGSQL.${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/**
 * A libpq key/value connection string, for the tools run as processes. Values are quoted, so a database named
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
