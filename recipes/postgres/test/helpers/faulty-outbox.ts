import { Readable, Transform } from 'node:stream';
import type { Backend } from '@pullback/storage';

export interface Faults {
  /** Pause this long after each chunk saved, so a transfer lasts long enough to be hit. */
  readonly delayMs?: number;
  /** Fail a save once it has received more than this many bytes. */
  readonly failAfterBytes?: number;
  /** Called with the bytes received so far, after each chunk. */
  readonly onBytes?: (bytes: number) => void;
}

/** A backend whose streamed saves are slowed or broken on purpose (fault injection). */
export function faultyOutbox(inner: Backend, faults: Faults): Backend {
  return {
    location: inner.location,
    properties: inner.properties,
    load: (...args) => inner.load(...args),
    stat: (...args) => inner.stat(...args),
    list: (...args) => inner.list(...args),
    remove: (...args) => inner.remove(...args),
    save: (name, body, options) => {
      if (!(body instanceof Readable)) return inner.save(name, body, options);
      let bytes = 0;
      const through = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          faults.onBytes?.(bytes);
          if (faults.failAfterBytes !== undefined && bytes > faults.failAfterBytes) {
            callback(new Error(`injected outbox failure after ${bytes} bytes`));
          } else if (faults.delayMs !== undefined) {
            setTimeout(() => callback(null, chunk), faults.delayMs);
          } else {
            callback(null, chunk);
          }
        },
      });
      body.once('error', (error) => through.destroy(error));
      through.once('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(through);
      return inner.save(name, through, options);
    },
  };
}
