import { fileURLToPath } from 'node:url';
import type { Backend } from './backend.js';
import { PermanentError } from './errors.js';
import { FsBackend, type FsBackendOptions } from './fs-backend.js';
import { LimitBackend } from './limit-backend.js';
import { RetryBackend, type RetryOptions } from './retry-backend.js';
import { parseS3Url, S3Backend, type S3BackendOptions } from './s3-backend.js';

export interface OpenBackendOptions {
  /** Retry settings, or `false` for none. Default: the RetryBackend defaults. */
  readonly retry?: RetryOptions | false;
  /** Operations allowed at once. Default: the driver's `properties.connections`. */
  readonly connections?: number;
  /** Settings for a filesystem URL. */
  readonly fs?: FsBackendOptions;
  /** Settings for an `s3://` URL; the bucket and prefix come from the URL. */
  readonly s3?: Omit<S3BackendOptions, 'bucket' | 'prefix'>;
}

const FORMS = 'use a path, file:///path or s3://bucket/prefix';

/**
 * The backend a storage URL names, ready to use: the driver, limited to its number of
 * connections, with retries outside the limit (so a retry waiting out its backoff
 * holds no connection). A path or `file:///path` is a directory; `s3://bucket/prefix`
 * is a bucket, reached with the standard AWS environment variables.
 */
export function openBackend(url: string, options: OpenBackendOptions = {}): Backend {
  const limited = new LimitBackend(openDriver(url, options), {
    ...(options.connections === undefined ? {} : { connections: options.connections }),
  });
  return options.retry === false ? limited : new RetryBackend(limited, options.retry);
}

/** The bare driver a storage URL names, without retries or limits. */
export function openDriver(url: string, options: Pick<OpenBackendOptions, 'fs' | 's3'> = {}): Backend {
  if (url.trim() === '') throw new PermanentError(`empty storage URL: ${FORMS}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case undefined:
      return new FsBackend(url, options.fs);
    case 'file':
      return new FsBackend(filePath(url), options.fs);
    case 's3':
      return new S3Backend({ ...options.s3, ...parseS3Url(url) });
    default:
      // Only the scheme is echoed: the rest of an unknown URL may hold credentials.
      throw new PermanentError(`unsupported storage URL scheme "${scheme}:": ${FORMS}`);
  }
}

function filePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new PermanentError(`invalid file URL ${JSON.stringify(url)}: ${FORMS}`, { cause: error });
  }
}
