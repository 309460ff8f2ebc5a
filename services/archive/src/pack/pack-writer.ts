import { Blake3Hasher } from '@napi-rs/blake-hash';
import type { Backend } from '@pullback/storage';
import type { BlobEntry, SealedBlob } from './blob-entry.js';
import { encodePackTrailer } from './pack-header.js';

export function packName(id: string): string {
  return `data/${id.slice(0, 2)}/${id}`;
}

/** A pack that has been saved: what the index records for it. */
export interface SavedPack {
  readonly id: string;
  readonly entries: readonly BlobEntry[];
  readonly size: number;
}

export interface PackWriterOptions {
  readonly backend: Backend;
  readonly key: Buffer;
  /** A pack is closed once its blobs reach this many bytes. */
  readonly packSize: number;
  /** Saves allowed at once; `add` waits when more are running. Default 1: one pack fills while one saves. */
  readonly uploads?: number;
  readonly signal?: AbortSignal;
  /** Called after each pack is saved, in the order packs are saved. */
  readonly onSaved: (pack: SavedPack) => void;
}

/**
 * Appends sealed blobs to a pack in memory and saves it when full. Memory is bounded
 * by `packSize × (1 + uploads)` (plus one blob). The pack is named by the BLAKE3 of its bytes, so
 * anyone can check a pack file without the key.
 */
export class PackWriter {
  /** The pack being filled: blobs are copied in as they come (one copy, no join). */
  private buffer: Buffer = Buffer.alloc(0);
  /**
   * A whole-pack buffer whose save has finished, reused for the next pack: a fresh
   * 20 MiB buffer per pack would otherwise wait, outside V8's accounting, for the
   * collector, and peak memory would follow throughput.
   */
  private spare: Buffer | undefined;
  private entries: BlobEntry[] = [];
  private size = 0;
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;

  constructor(private readonly options: PackWriterOptions) {}

  get pendingBytes(): number {
    return this.size;
  }

  async add(blob: SealedBlob): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.entries.push({
      type: blob.type,
      compression: blob.compression,
      id: blob.id,
      offset: this.size,
      length: blob.sealed.length,
      plainLength: blob.plainLength,
    });
    this.reserve(blob.sealed.length);
    blob.sealed.copy(this.buffer, this.size);
    this.size += blob.sealed.length;
    if (this.size >= this.options.packSize) await this.close();
  }

  /** Closes the current pack (if any) and waits for every save. */
  async flush(): Promise<void> {
    if (this.size > 0) await this.close();
    while (this.running.size > 0) await Promise.race(this.running);
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Starts at 1 MiB (metadata packs are often small), then jumps to a whole pack plus
   * a largest blob, so a pack is copied at most once more while it fills.
   */
  private reserve(bytes: number): void {
    const needed = this.size + bytes;
    if (needed <= this.buffer.length) return;
    const full = this.options.packSize + 4 * 1024 * 1024 + 64 * 1024;
    const capacity = Math.max(needed, this.buffer.length === 0 ? Math.min(1024 * 1024, full) : full);
    let grown: Buffer;
    if (this.spare && this.spare.length >= needed) {
      grown = this.spare;
      this.spare = undefined;
    } else {
      grown = Buffer.allocUnsafeSlow(capacity);
    }
    this.buffer.copy(grown, 0, 0, this.size);
    this.buffer = grown;
  }

  private async close(): Promise<void> {
    const entries = this.entries;
    const trailer = encodePackTrailer(this.options.key, entries);
    this.reserve(trailer.length);
    trailer.copy(this.buffer, this.size);
    const size = this.size + trailer.length;
    const backing = this.buffer;
    const body = backing.subarray(0, size);
    // The next pack gets a buffer of its own; this one is held until its save ends.
    this.buffer = Buffer.alloc(0);
    this.entries = [];
    this.size = 0;
    const hasher = new Blake3Hasher();
    hasher.update(body);
    const id = hasher.digest('hex');
    while (this.running.size >= (this.options.uploads ?? 1)) await Promise.race(this.running);
    if (this.failure !== undefined) throw this.failure;
    const save = this.options.backend
      .save(packName(id), body, { ...(this.options.signal ? { signal: this.options.signal } : {}) })
      .then(
        () => {
          // Saved: the backend holds no reference to the bytes any more.
          if (backing.length >= this.options.packSize) this.spare = backing;
          this.options.onSaved({ id, entries, size });
        },
        (error: unknown) => {
          this.failure ??= error;
        },
      )
      .finally(() => this.running.delete(save));
    this.running.add(save);
  }
}
