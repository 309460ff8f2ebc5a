import { finished, type Readable } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import type {
  Backend,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';

export interface LimitOptions {
  /** Operations allowed at once. Default: the backend's `properties.connections`. */
  readonly connections?: number;
}

/**
 * Caps how many operations run against a backend at once, so a burst of work queues
 * here instead of opening hundreds of connections. A load keeps its slot until its
 * stream ends, fails or is destroyed: the bytes still flow over its connection. A
 * caller must therefore consume or destroy every stream it loads.
 */
export class LimitBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly limit: LimitFunction;

  constructor(
    private readonly inner: Backend,
    options: LimitOptions = {},
  ) {
    const connections = options.connections ?? inner.properties.connections;
    this.limit = pLimit(connections);
    this.location = inner.location;
    this.properties = { ...inner.properties, connections };
    if (inner.localPath) this.localPath = inner.localPath.bind(inner);
  }

  readonly localPath?: (name: string) => string;

  save(name: string, body: SaveBody, options: OperationOptions = {}): Promise<void> {
    return this.run(options.signal, () => this.inner.save(name, body, options));
  }

  load(name: string, range?: ByteRange, options: OperationOptions = {}): Promise<Readable> {
    return new Promise<Readable>((resolve, reject) => {
      this.run(options.signal, async () => {
        const stream = await this.inner.load(name, range, options);
        resolve(stream);
        await new Promise<void>((done) => {
          finished(stream, () => done());
        });
      }).catch(reject);
    });
  }

  stat(name: string, options: OperationOptions = {}): Promise<ObjectInfo> {
    return this.run(options.signal, () => this.inner.stat(name, options));
  }

  /**
   * Each step of the listing takes a slot, not the whole iteration: callers often load
   * or remove what they list as they go, and a listing holding a slot throughout
   * would deadlock them with a single connection.
   */
  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<ObjectInfo> {
    const iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const result = await this.run(options.signal, () => iterator.next());
        if (result.done) return;
        yield result.value;
      }
    } finally {
      await iterator.return?.();
    }
  }

  remove(name: string, options: OperationOptions = {}): Promise<void> {
    return this.run(options.signal, () => this.inner.remove(name, options));
  }

  /**
   * Queues `operation`; an abort while it waits rejects at once and drops it. Once it
   * runs, it settles on its own (it has the signal too): rejecting early would let the
   * caller go on while the operation still cleans up after itself.
   */
  private run<T>(signal: AbortSignal | undefined, operation: () => Promise<T>): Promise<T> {
    if (signal === undefined) return this.limit(operation);
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.limit(async () => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        await operation().then(resolve, reject);
      });
    });
  }
}
