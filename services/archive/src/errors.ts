/**
 * Every failure a user can cause, named once, each code for one thing that happened.
 * `message` is one lowercase line naming the object; `hint` says what the user can do,
 * when there is something. The CLI maps each code to an exit status (its
 * exit-status.ts, the README's table).
 */
export type ArchiveErrorCode =
  | 'not-an-archive'
  | 'already-an-archive'
  | 'wrong-key'
  | 'no-key'
  | 'conflicting-keys'
  | 'bad-key-file'
  | 'unsupported-version'
  | 'unknown-snapshot'
  | 'ambiguous-snapshot'
  | 'source-missing'
  | 'target-not-empty'
  | 'target-not-directory'
  | 'unsafe-path'
  | 'corrupt'
  | 'missing-data'
  | 'locked'
  | 'empty-policy'
  | 'bad-wal-name'
  | 'aborted';

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
  readonly code: ArchiveErrorCode;
  readonly hint: string | undefined;

  constructor(code: ArchiveErrorCode, message: string, options?: ErrorOptions & { hint?: string }) {
    super(message, options);
    this.code = code;
    this.hint = options?.hint;
  }
}

export function isArchiveError(error: unknown, code?: ArchiveErrorCode): error is ArchiveError {
  return error instanceof ArchiveError && (code === undefined || error.code === code);
}

/** Data failed authentication or its id check: the message names what it belongs to. */
export class CorruptDataError extends ArchiveError {
  constructor(message: string, options?: ErrorOptions & { hint?: string }) {
    super('corrupt', message, options);
  }
}

export function abortError(signal: AbortSignal | undefined): ArchiveError {
  const reason = signal?.reason;
  return new ArchiveError('aborted', reason instanceof Error ? reason.message : 'operation aborted', {
    cause: reason,
  });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
