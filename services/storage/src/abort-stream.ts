import type { Readable } from 'node:stream';

/**
 * Destroys `stream` with the signal's own reason when the signal aborts. Node's
 * `addAbortSignal` destroys it with a generic AbortError instead, and callers tell
 * "I gave up" (a timeout, a lost lock) from a storage failure by that reason.
 */
export function destroyOnAbort<T extends Readable>(signal: AbortSignal | undefined, stream: T): T {
  if (signal === undefined) return stream;
  if (signal.aborted) {
    stream.destroy(signal.reason);
    return stream;
  }
  const onAbort = () => stream.destroy(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', onAbort));
  return stream;
}
