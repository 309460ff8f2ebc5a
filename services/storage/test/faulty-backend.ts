import { type Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Backend,
  BackendOperation,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from '../src/backend.js';

/** A transient failure, as a dropped connection would give. */
export function connectionReset(): Error {
  return Object.assign(new Error('read ECONNRESET (injected)'), { code: 'ECONNRESET' });
}

/**
 * Wraps a real backend and injects faults on request: failed operations, load streams
 * that break part-way. It also counts calls and how many operations were in flight at
 * once (a load counts until its stream closes).
 */
export class FaultyBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  readonly calls: Record<BackendOperation, number> = { save: 0, load: 0, stat: 0, list: 0, remove: 0 };
  active = 0;
  peakActive = 0;
  private readonly failures = new Map<BackendOperation, Error[]>();
  private brokenStreams: { afterBytes: number; left: number } = { afterBytes: 0, left: 0 };

  constructor(
    private readonly inner: Backend,
    private readonly delayMs = 0,
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
  }

  /** The next `times` calls of `operation` fail with `error` before reaching the store. */
  failNext(operation: BackendOperation, times: number, error: () => Error = connectionReset): void {
    this.failures.set(operation, Array.from({ length: times }, error));
  }

  /** The next `times` load streams fail after passing `afterBytes` bytes. */
  breakStreams(afterBytes: number, times: number): void {
    this.brokenStreams = { afterBytes, left: times };
  }

  save(name: string, body: SaveBody, options?: OperationOptions): Promise<void> {
    return this.track('save', () => {
      this.injectFailure('save');
      return this.inner.save(name, body, options);
    });
  }

  async load(name: string, range?: ByteRange, options?: OperationOptions): Promise<Readable> {
    this.calls.load++;
    this.enter();
    try {
      await sleep(this.delayMs);
      this.injectFailure('load');
      const stream = await this.inner.load(name, range, options);
      const tracked = this.brokenStreams.left > 0 ? this.cut(stream) : stream;
      tracked.once('close', () => this.active--);
      return tracked;
    } catch (error) {
      this.active--;
      throw error;
    }
  }

  stat(name: string, options?: OperationOptions): Promise<ObjectInfo> {
    return this.track('stat', () => {
      this.injectFailure('stat');
      return this.inner.stat(name, options);
    });
  }

  async *list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo> {
    this.calls.list++;
    await sleep(this.delayMs);
    this.injectFailure('list');
    yield* this.inner.list(prefix, options);
  }

  remove(name: string, options?: OperationOptions): Promise<void> {
    return this.track('remove', () => {
      this.injectFailure('remove');
      return this.inner.remove(name, options);
    });
  }

  private async track<T>(operation: BackendOperation, run: () => Promise<T>): Promise<T> {
    this.calls[operation]++;
    this.enter();
    try {
      await sleep(this.delayMs);
      return await run();
    } finally {
      this.active--;
    }
  }

  private enter(): void {
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
  }

  private injectFailure(operation: BackendOperation): void {
    const error = this.failures.get(operation)?.shift();
    if (error !== undefined) throw error;
  }

  private cut(source: Readable): Readable {
    this.brokenStreams.left--;
    let room = this.brokenStreams.afterBytes;
    const cut = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (chunk.length < room) {
          room -= chunk.length;
          callback(null, chunk);
          return;
        }
        if (room > 0) this.push(chunk.subarray(0, room));
        room = 0;
        callback(connectionReset());
      },
    });
    source.on('error', (error) => cut.destroy(error));
    cut.once('close', () => source.destroy());
    return source.pipe(cut);
  }
}
