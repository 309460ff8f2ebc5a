/** The object does not exist. Never retried. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(
    readonly object: string,
    options?: ErrorOptions,
  ) {
    super(`object not found: ${object}`, options);
  }
}

/**
 * The request cannot succeed by retrying it: bad credentials, a missing bucket,
 * a malformed name, an endpoint that never answered. error-kind.ts classifies the rest.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

export function isNotFound(error: unknown): error is NotFoundError {
  return error instanceof NotFoundError;
}
