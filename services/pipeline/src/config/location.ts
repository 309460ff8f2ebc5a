import { redactUrl } from '@pullback/storage/redact-url';

/**
 * Where an archive or an outbox lives: a filesystem path, `file:///path`, or
 * `s3://bucket/prefix`. Only the shape is checked here; whether the place exists
 * is the storage driver's business when it opens it.
 */

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const SHAPES = 'a path, file:///path or s3://bucket/prefix';

/** What is wrong with `text` as a storage location, or undefined when it is fine. */
export function checkLocation(text: string): string | undefined {
  if (text.trim() === '') return `must not be empty (expected ${SHAPES})`;
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  // No scheme: a plain path, relative or absolute (a Windows `C:\` has no `//`).
  if (scheme === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected ${SHAPES}, got ${JSON.stringify(text)}`;
  }
  if (scheme === 'file') {
    // `file://data/x` silently means host "data"; say what was probably meant.
    if (url.host !== '' && url.host !== 'localhost') {
      return `a file URL needs three slashes (file:///absolute/path), got ${JSON.stringify(text)}`;
    }
    return undefined;
  }
  if (scheme === 's3') {
    if (url.hostname === '')
      return `an S3 URL needs a bucket (s3://bucket/prefix), got ${JSON.stringify(text)}`;
    return undefined;
  }
  return `expected ${SHAPES}, got ${JSON.stringify(text)}`;
}

/** What is wrong with `text` as a Redis URL, or undefined when it is fine. */
export function checkRedisUrl(text: string): string | undefined {
  // The text may hold a password: it is echoed redacted.
  const expected = `expected a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(text))}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return expected;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return expected;
  if (url.hostname === '')
    return `a Redis URL needs a host (redis://host:6379), got ${JSON.stringify(redactUrl(text))}`;
  return undefined;
}
