import pg from 'pg';
import type { PgEndpoint } from './connection.js';
import { queryError } from './query-error.js';

/** What a probe saw: the server answered, or why not (one line). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** SQLSTATE classes that mean a running server refused us, not that it is down: 28 (login refused), 3D (no such database). */
const ANSWERED_CLASSES = ['28', '3D'];

/**
 * Whether the server at `endpoint` answers: a new connection (not a pooled one, which
 * would not show that it still takes connections) and `select 1`, both within
 * `timeoutMs`. A server that refuses our login answered all the same; one starting up
 * or shutting down (57P03, 57P01) did not. For the election's probe (docs/election.md
 * "Failure detection").
 */
export async function probeServer(endpoint: PgEndpoint, timeoutMs: number): Promise<ProbeResult> {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user ?? 'postgres',
    database: 'postgres',
    application_name: 'pullback-probe',
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
  });
  // A connection the server drops after we gave up must not crash the process.
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const probe = (async (): Promise<ProbeResult> => {
    try {
      await client.connect();
      await client.query('select 1');
      return { ok: true };
    } catch (error) {
      const code = (error as pg.DatabaseError).code;
      if (error instanceof pg.DatabaseError && ANSWERED_CLASSES.some((c) => code?.startsWith(c)))
        return { ok: true };
      return { ok: false, reason: queryError('probing', error).message };
    }
  })();
  try {
    return await Promise.race([probe, timedOut]);
  } finally {
    clearTimeout(timer);
    void client.end().catch(() => {});
  }
}
