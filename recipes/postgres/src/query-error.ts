import pg from 'pg';

/**
 * The server refused a statement or a login: its own error fields, as the protocol
 * carries them, rather than text to parse.
 */
export class PgQueryError extends Error {
  override readonly name = 'PgQueryError';
  /** SQLSTATE, e.g. `25006` for a write on a read-only standby, `57014` for a cancelled statement. */
  readonly code: string;
  /** The server's primary message, without our prefix. */
  readonly serverMessage: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  /** `ERROR`, `FATAL` or `PANIC`. */
  readonly severity: string | undefined;

  constructor(label: string, error: pg.DatabaseError) {
    super(`${label} failed: ${error.message}`, { cause: error });
    this.code = error.code ?? '';
    this.serverMessage = error.message;
    this.detail = error.detail;
    this.hint = error.hint;
    this.severity = error.severity;
  }
}

/** Node's words for a failed connection, in libpq's (the words psql printed). */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: is the server running and accepting connections there?',
  ENOENT: 'no such socket: is the server running and accepting connections there?',
  EHOSTUNREACH: 'no route to host',
  ENOTFOUND: 'unknown host',
};

/** `error` as thrown by `query`: a server's error typed, any other (no route, timeout) with `label`. */
export function queryError(label: string, error: unknown): Error {
  if (error instanceof pg.DatabaseError) return new PgQueryError(label, error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message =
    (code === undefined ? undefined : SOCKET_ERRORS[code]) ??
    (error instanceof Error ? error.message : String(error));
  return new Error(`${label} failed: ${message}`, { cause: error });
}
