import { Readable } from 'node:stream';
import type { ByteRange } from './backend.js';
import { PermanentError } from './errors.js';

/** Rejects a range no store could serve (negative, fractional). */
export function checkRange(name: string, range: ByteRange): void {
  const valid =
    Number.isSafeInteger(range.offset) &&
    range.offset >= 0 &&
    (range.length === undefined || (Number.isSafeInteger(range.length) && range.length >= 0));
  if (!valid) {
    throw new PermanentError(
      `invalid byte range for ${name}: offset ${range.offset}, length ${range.length ?? 'to the end'}`,
    );
  }
}

/** The stream `load` returns for a range that holds no bytes (empty, or past the end). */
export function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}
