import { describe, expect, it } from 'vitest';
import { isAccessDenied, NotFoundError, PermanentError } from '../src/index.js';

const errno = (code: string) => Object.assign(new Error(`${code}: refused`), { code });
const s3 = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('isAccessDenied', () => {
  it('is a refused right from either driver, as thrown or wrapped', () => {
    for (const error of [
      errno('EACCES'),
      errno('EPERM'),
      errno('EROFS'),
      s3('AccessDenied', 403),
      s3('Forbidden', 403),
    ]) {
      expect(isAccessDenied(error), error.message).toBe(true);
      expect(isAccessDenied(new PermanentError(`locks/x: ${error.message}`, { cause: error }))).toBe(true);
    }
  });

  it('is not any other failure: a full disk, a missing object or bucket, a reset', () => {
    for (const error of [
      errno('ENOSPC'),
      errno('ENOENT'),
      errno('ECONNRESET'),
      s3('NoSuchBucket', 404),
      s3('SlowDown', 503),
      new NotFoundError('locks/x'),
      new PermanentError('bad name'),
    ]) {
      expect(isAccessDenied(error), error.message).toBe(false);
    }
  });
});
