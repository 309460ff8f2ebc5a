import type { Readable } from 'node:stream';

/**
 * The part of a storage `Backend` (@pullback/storage) an export uses. Named here so
 * the contract needs no storage dependency; any `Backend` is an `Outbox`.
 */
export interface Outbox {
  readonly location: string;
  save(name: string, body: Buffer | Readable, options?: { signal?: AbortSignal }): Promise<void>;
  stat(name: string, options?: { signal?: AbortSignal }): Promise<{ readonly size: number }>;
  load(name: string, range?: undefined, options?: { signal?: AbortSignal }): Promise<Readable>;
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<{ readonly name: string }>;
  remove(name: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Where an object is on this machine, for outboxes that are directories (read in place). */
  readonly localPath?: (name: string) => string;
}
