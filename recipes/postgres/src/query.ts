import type pg from 'pg';
import { describeEndpoint, type PgEndpoint } from './connection.js';
import type { OsAccount } from './os-user.js';
import { poolFor } from './pools.js';
import { psqlAs } from './psql-as.js';
import { PgQueryError, queryError } from './query-error.js';

/** A statement running longer is cancelled by the server (SQLSTATE 57014): a hung server must not hang a job. */
export const STATEMENT_TIMEOUT_MS = 60_000;

export interface QueryOptions {
  /** Default: `postgres`. */
  readonly database?: string;
  readonly signal?: AbortSignal;
  /** Default: STATEMENT_TIMEOUT_MS. */
  readonly statementTimeoutMs?: number;
  /**
   * The server's account. The driver logs in as this process's account; when a local
   * socket's `peer` authentication refuses that (we are root, the server's account is
   * `postgres`), the statement runs through psql as this account instead.
   */
  readonly as?: OsAccount;
  /** Where psql is, for that case. */
  readonly binDir?: string;
}

/** Values as the server sends them, as psql printed them: `t`, not `true`; JSON as text. */
const AS_TEXT = { getTypeParser: () => (value: string) => value };

/** SQLSTATE invalid_authorization_specification: among others, `peer` refused our account. */
const AUTHORIZATION_REFUSED = '28000';

/** Endpoints whose `peer` login needs the server's account (see QueryOptions.as). */
const peerOnly = new Set<string>();

/**
 * Runs `sql` (one statement, or several separated by `;`, each answering in turn) on a
 * pooled connection and returns the rows as psql's unaligned, tuples-only output:
 * columns joined by `|`, rows by newlines, NULL as nothing, trimmed. A server's error
 * rejects as a `PgQueryError` with its SQLSTATE and fields.
 */
export async function query(endpoint: PgEndpoint, sql: string, options: QueryOptions = {}): Promise<string> {
  const key = `${describeEndpoint(endpoint)} ${endpoint.user ?? 'postgres'}`;
  if (options.as !== undefined && peerOnly.has(key)) return psqlAs(options.as, endpoint, sql, options);
  try {
    const rows = await queryRows(endpoint, sql, options);
    return rows
      .map((row) => row.map((value) => value ?? '').join('|'))
      .join('\n')
      .trim();
  } catch (error) {
    const account = options.as;
    if (
      account !== undefined &&
      account.uid !== process.getuid?.() &&
      error instanceof PgQueryError &&
      error.code === AUTHORIZATION_REFUSED
    ) {
      peerOnly.add(key);
      return psqlAs(account, endpoint, sql, options);
    }
    throw error;
  }
}

/** Runs a query returning one JSON value (`select json_build_object(...)`) and parses it. */
export async function queryJson<T>(
  endpoint: PgEndpoint,
  sql: string,
  options: QueryOptions = {},
): Promise<T> {
  return JSON.parse(await query(endpoint, sql, options)) as T;
}

async function queryRows(
  endpoint: PgEndpoint,
  sql: string,
  options: QueryOptions,
): Promise<(string | null)[][]> {
  const { signal } = options;
  signal?.throwIfAborted();
  const where = describeEndpoint(endpoint);
  const pool = poolFor(
    endpoint,
    options.database ?? 'postgres',
    options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS,
  );
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw queryError(`connecting to ${where}`, error);
  }
  // A server that dies while the client is checked out (or ended by `abort`) reaches the
  // query as its error; the client's own 'error' event must not crash the process too.
  if (client.listenerCount('error') === 0) client.on('error', () => {});
  let released = false;
  const release = (broken?: Error): void => {
    if (released) return;
    released = true;
    client.release(broken);
  };
  // Closing the connection is how a client stops a statement; the server then ends it.
  const abort = () => release(new Error('aborted'));
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const result: pg.QueryArrayResult | pg.QueryArrayResult[] = await client.query({
      text: sql,
      rowMode: 'array',
      types: AS_TEXT,
    });
    release();
    const results = Array.isArray(result) ? result : [result];
    return results.flatMap((each) => each.rows) as (string | null)[][];
  } catch (error) {
    // Not reused: a failed `begin; ...` may have left the session in an aborted transaction.
    release(error instanceof Error ? error : new Error(String(error)));
    if (signal?.aborted) throw signal.reason;
    throw queryError(`query on ${where}`, error);
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
