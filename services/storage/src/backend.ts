import type { Readable } from 'node:stream';

/**
 * What a driver can do, as data rather than extra methods (after restic's
 * `Properties`): wrappers and callers read these instead of probing.
 */
export interface BackendProperties {
  /** How many requests the driver serves well at once; the limit wrapper's default. */
  readonly connections: number;
  /** True when `save` over an existing name replaces it atomically. */
  readonly hasAtomicReplace: boolean;
}

/** One stored object as `stat` and `list` report it. */
export interface ObjectInfo {
  /** The object's full name, `/`-separated, relative to the backend's root. */
  readonly name: string;
  readonly size: number;
}

/** A byte range for `load`: from `offset`, `length` bytes (to the end when omitted). */
export interface ByteRange {
  readonly offset: number;
  readonly length?: number;
}

/**
 * The bytes to save. A Buffer or a factory can be replayed, so the retry wrapper
 * may call the factory more than once (it must return the same bytes each time);
 * a bare Readable is consumed once and is never retried.
 */
export type SaveBody = Buffer | Readable | (() => Readable);

/** The five verbs, as wrappers name them (in retry events, for instance). */
export type BackendOperation = 'save' | 'load' | 'stat' | 'list' | 'remove';

export interface OperationOptions {
  readonly signal?: AbortSignal;
}

/**
 * The storage contract: five verbs. Names are `/`-separated keys without a leading
 * slash, empty segments, `.` or `..`. Objects are written whole: a reader never sees
 * half of one under its name.
 */
export interface Backend {
  /** Where the backend points, for messages (never contains secrets). */
  readonly location: string;
  readonly properties: BackendProperties;

  /** Stores `body` under `name`, replacing any object of that name. */
  save(name: string, body: SaveBody, options?: OperationOptions): Promise<void>;

  /**
   * Opens `name` for reading, whole or a range. Rejects with `NotFoundError` when the
   * object is missing. A range past the end yields the bytes that exist. The caller
   * must read the stream to its end or destroy it: until then it may hold a connection
   * (and a slot of the limit wrapper).
   */
  load(name: string, range?: ByteRange, options?: OperationOptions): Promise<Readable>;

  /** Size of `name`; rejects with `NotFoundError` when missing. */
  stat(name: string, options?: OperationOptions): Promise<ObjectInfo>;

  /** Every object whose name starts with `prefix` (a plain string prefix), in no set order. */
  list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo>;

  /** Removes `name`. Removing a missing object is not an error (idempotent). */
  remove(name: string, options?: OperationOptions): Promise<void>;

  /**
   * Where `name` is on this machine's file system, for backends that keep objects as
   * files (the fs driver): a reader that can do better than a stream, such as one
   * reading a tar's members in place, may read it there. Absent on the others.
   */
  readonly localPath?: (name: string) => string;
}
