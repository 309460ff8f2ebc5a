import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Backend,
  BackendOperation,
  BackendProperties,
  ByteRange,
  ObjectInfo,
  OperationOptions,
  SaveBody,
} from './backend.js';
import { type ErrorKind, errorKind } from './error-kind.js';
import { PermanentError } from './errors.js';

/** What `onRetry` is told before the backend tries again. */
export interface RetryEvent {
  readonly operation: BackendOperation;
  /** The object's name (the prefix, for `list`). */
  readonly name: string;
  /** The attempt that failed, counting from 1. */
  readonly attempt: number;
  readonly retriesLeft: number;
  readonly error: Error;
  /** How long the backend waits before the next attempt, in ms. */
  readonly delayMs: number;
  /** Set when a `load` stream broke mid-way: the byte it is re-opened from. */
  readonly resumeAt?: number;
}

export interface RetryOptions {
  /** Retries after the first attempt. Default: 10. */
  readonly retries?: number;
  /** Delay before the first retry in ms; it doubles on each retry, times a random 1–2. Default: 500. */
  readonly minTimeout?: number;
  /** Longest delay between two attempts in ms. Default: 30 000. */
  readonly maxTimeout?: number;
  /**
   * Retries after the first attempt when nothing listens at the endpoint or its host
   * does not resolve (see error-kind.ts): a server may be starting, but a wrong URL
   * must not keep the user waiting for minutes. Default: 3 (a few seconds).
   */
  readonly unreachableRetries?: number;
  /** Called before each retry's wait, for logging. */
  readonly onRetry?: (event: RetryEvent) => void;
  /**
   * Aborts every operation and its backoff waits, whatever signal the operation was
   * given: a command's SIGINT/SIGTERM reaches the storage without each caller passing it.
   */
  readonly signal?: AbortSignal;
}

interface OpenedLoad {
  readonly stream: Readable;
  readonly chunks: AsyncIterator<Buffer>;
  readonly first: IteratorResult<Buffer>;
}

/**
 * Retries failed operations with exponential backoff and jitter. Only transient
 * errors are retried (error-kind.ts decides), an unreachable endpoint only briefly,
 * never after an abort; a wait for the next attempt ends at once on abort.
 * A save is retried only when its body can be replayed (a Buffer or a factory). A
 * load stream that breaks mid-way is re-opened from the byte it reached, so a long
 * read survives a dropped connection without starting over.
 */
export class RetryBackend implements Backend {
  readonly location: string;
  readonly properties: BackendProperties;
  private readonly options: Required<Omit<RetryOptions, 'onRetry' | 'signal'>> &
    Pick<RetryOptions, 'onRetry' | 'signal'>;

  constructor(
    private readonly inner: Backend,
    options: RetryOptions = {},
  ) {
    this.location = inner.location;
    this.properties = inner.properties;
    if (inner.localPath) this.localPath = inner.localPath.bind(inner);
    this.options = {
      retries: options.retries ?? 10,
      minTimeout: options.minTimeout ?? 500,
      maxTimeout: options.maxTimeout ?? 30_000,
      unreachableRetries: options.unreachableRetries ?? 3,
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
  }

  readonly localPath?: (name: string) => string;

  save(name: string, body: SaveBody, given: OperationOptions = {}): Promise<void> {
    const options = this.withSignal(given);
    // A bare stream is consumed by the first attempt: nothing could replay it.
    if (body instanceof Readable) return this.inner.save(name, body, options);
    return this.retry('save', name, options.signal, () => this.inner.save(name, body, options));
  }

  async load(
    name: string,
    range: ByteRange = { offset: 0 },
    given: OperationOptions = {},
  ): Promise<Readable> {
    const options = this.withSignal(given);
    const { signal } = options;
    const end = range.length === undefined ? undefined : range.offset + range.length;
    // An attempt counts as good only once bytes (or the end) arrive, so a stream that
    // breaks before its first byte is retried with backoff like any failed request.
    const open = (offset: number): Promise<OpenedLoad> =>
      this.retry('load', name, signal, async () => {
        const at = end === undefined ? { offset } : { offset, length: end - offset };
        const stream = await this.inner.load(name, at, options);
        const chunks: AsyncIterator<Buffer> = stream[Symbol.asyncIterator]();
        return { stream, chunks, first: await chunks.next() };
      });

    let current = await open(range.offset);
    let closed = false;
    const resume = async (error: unknown, position: number): Promise<IteratorResult<Buffer>> => {
      if (closed || signal?.aborted || errorKind(error) !== 'transient') throw error;
      if (end !== undefined && position >= end) return { done: true, value: undefined };
      this.options.onRetry?.({
        operation: 'load',
        name,
        attempt: 1,
        retriesLeft: this.options.retries,
        error: error instanceof Error ? error : new Error(String(error)),
        delayMs: 0,
        resumeAt: position,
      });
      current = await open(position);
      if (closed) current.stream.destroy();
      return closed ? { done: true, value: undefined } : current.first;
    };
    const chunks = async function* (): AsyncGenerator<Buffer> {
      let position = range.offset;
      let result = current.first;
      while (!result.done) {
        position += result.value.length;
        yield result.value;
        result = await current.chunks.next().catch((error: unknown) => resume(error, position));
      }
    };
    const output = Readable.from(chunks(), { objectMode: false });
    // Release the source at once when the reader gives up, even while the generator
    // waits on it (a generator only sees `return()` at its next yield).
    output.once('close', () => {
      closed = true;
      current.stream.destroy();
    });
    return output;
  }

  stat(name: string, given: OperationOptions = {}): Promise<ObjectInfo> {
    const options = this.withSignal(given);
    return this.retry('stat', name, options.signal, () => this.inner.stat(name, options));
  }

  /**
   * A listing is retried only until its first entry arrives: after that the caller
   * has seen entries, and skipping them on a restart would take memory that grows
   * with the listing.
   */
  async *list(prefix: string, given: OperationOptions = {}): AsyncIterable<ObjectInfo> {
    const options = this.withSignal(given);
    const { iterator, first } = await this.retry('list', prefix, options.signal, async () => {
      const iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]();
      return { iterator, first: await iterator.next() };
    });
    try {
      for (let result = first; !result.done; result = await iterator.next()) yield result.value;
    } finally {
      await iterator.return?.();
    }
  }

  remove(name: string, given: OperationOptions = {}): Promise<void> {
    const options = this.withSignal(given);
    return this.retry('remove', name, options.signal, () => this.inner.remove(name, options));
  }

  private withSignal(options: OperationOptions): OperationOptions {
    const own = this.options.signal;
    if (own === undefined) return options;
    const signal = options.signal === undefined ? own : AbortSignal.any([own, options.signal]);
    return { ...options, signal };
  }

  private async retry<T>(
    operation: BackendOperation,
    name: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
  ): Promise<T> {
    const { onRetry } = this.options;
    for (let attemptNumber = 1; ; attemptNumber++) {
      signal?.throwIfAborted();
      try {
        return await attempt();
      } catch (error) {
        // The caller's reason, not whatever the aborted request failed with.
        if (signal?.aborted) throw signal.reason;
        if (error instanceof Error && error.name === 'AbortError') throw error;
        const kind = errorKind(error);
        const retriesLeft = this.budget(kind) - attemptNumber + 1;
        if (retriesLeft <= 0) throw this.givenUp(kind, error, operation, name, attemptNumber);
        const delayMs = this.delay(attemptNumber);
        const failure = error instanceof Error ? error : new Error(String(error));
        onRetry?.({ operation, name, attempt: attemptNumber, retriesLeft, error: failure, delayMs });
        await sleep(delayMs, undefined, signal === undefined ? {} : { signal }).catch(() => {
          throw signal?.reason ?? error;
        });
      }
    }
  }

  private budget(kind: ErrorKind): number {
    if (kind === 'transient') return this.options.retries;
    if (kind === 'unreachable') return Math.min(this.options.unreachableRetries, this.options.retries);
    return 0;
  }

  /** Exponential from minTimeout, doubled per retry, times a random 1–2, at most maxTimeout. */
  private delay(attemptNumber: number): number {
    const { minTimeout, maxTimeout } = this.options;
    return Math.round(Math.min(minTimeout * 2 ** (attemptNumber - 1) * (1 + Math.random()), maxTimeout));
  }

  /** An endpoint that never answered is said to be unreachable, as a PermanentError no outer layer retries. */
  private givenUp(
    kind: ErrorKind,
    error: unknown,
    operation: BackendOperation,
    name: string,
    attempts: number,
  ): unknown {
    if (kind !== 'unreachable') return error;
    const message = error instanceof Error ? error.message : String(error);
    return new PermanentError(
      `cannot reach ${this.location} (${operation} ${name}: ${message}; gave up after ${attempts} attempts)`,
      { cause: error },
    );
  }
}
