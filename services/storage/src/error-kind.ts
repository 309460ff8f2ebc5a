import { NotFoundError, PermanentError } from './errors.js';

/**
 * What retrying a failed operation can achieve:
 * - `not-found` and `permanent`: nothing; report at once.
 * - `unreachable`: nothing is listening or the host does not resolve. It may be a
 *   server still starting, so it gets a short budget (seconds, not minutes).
 * - `transient`: resets, timeouts, 5xx, throttling; retried with the full budget.
 */
export type ErrorKind = 'not-found' | 'permanent' | 'unreachable' | 'transient';

// A full disk, a refused permission or a malformed path stays so however often it is tried.
const PERMANENT_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EACCES',
  'EPERM',
  'EROFS',
  'EISDIR',
  'ENOTDIR',
  'ENAMETOOLONG',
  'ENOTEMPTY',
]);

// EAI_AGAIN (a resolver that did not answer) is transient; ENOTFOUND (no such host) is not.
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

// S3 error codes that mean the request itself is wrong: retrying cannot help.
const PERMANENT_S3_CODES = new Set([
  'AccessDenied',
  'AccountProblem',
  'AllAccessDisabled',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidAccessKeyId',
  'InvalidArgument',
  'InvalidBucketName',
  'InvalidObjectState',
  'InvalidRequest',
  'InvalidToken',
  'KeyTooLongError',
  'MethodNotAllowed',
  'NoSuchBucket',
  'NotImplemented',
  'PermanentRedirect',
  'SignatureDoesNotMatch',
]);

// 400 bad request, 401/403 refused credentials, 405 method, 411 length, 501 not implemented.
const PERMANENT_STATUS = new Set([400, 401, 403, 405, 411, 501]);

/** The one place that decides whether an error from any driver is worth retrying. */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof NotFoundError) return 'not-found';
  if (error instanceof PermanentError) return 'permanent';
  const code = errnoCode(error);
  if (code !== undefined && PERMANENT_ERRNO.has(code)) return 'permanent';
  if (code !== undefined && UNREACHABLE_ERRNO.has(code)) return 'unreachable';
  const { s3Code, status } = s3Fields(error);
  if (s3Code !== undefined && PERMANENT_S3_CODES.has(s3Code)) return 'permanent';
  if (status !== undefined && PERMANENT_STATUS.has(status)) return 'permanent';
  return 'transient';
}

/** True when retrying cannot help (a missing object included). */
export function isPermanent(error: unknown): boolean {
  const kind = errorKind(error);
  return kind === 'permanent' || kind === 'not-found';
}

/** The errno code of a Node error, or of every error of an AggregateError (happy eyeballs) alike. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string') return code;
  if (error instanceof AggregateError) {
    const codes = new Set(error.errors.map(errnoCode));
    if (codes.size === 1) return [...codes][0];
  }
  return undefined;
}

/** An S3 SDK error's code (`NoSuchBucket`) and HTTP status, when it has them. */
export function s3Fields(error: unknown): { s3Code?: string; status?: number } {
  const fields = error as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const s3Code =
    typeof fields?.Code === 'string'
      ? fields.Code
      : typeof fields?.name === 'string'
        ? fields.name
        : undefined;
  const status = fields?.$metadata?.httpStatusCode;
  return {
    ...(s3Code === undefined ? {} : { s3Code }),
    ...(typeof status === 'number' ? { status } : {}),
  };
}

// A refused right, from either driver: the error or any error it wraps (`cause`).
const ACCESS_ERRNO = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * True when the backend refused the operation for lack of rights: a file or directory
 * the process may not write (or a read-only mount), or S3's AccessDenied (403). A role
 * given only the rights it needs (docs/rights.md) meets this on purpose.
 */
export function isAccessDenied(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    const code = errnoCode(current);
    if (code !== undefined && ACCESS_ERRNO.has(code)) return true;
    const { s3Code, status } = s3Fields(current);
    if (s3Code === 'AccessDenied' || status === 403) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
