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
  /** Saves allowed at once; `add` waits when more are running. Default 2. */
  readonly uploads?: number;
  readonly signal?: AbortSignal;
  /** Called after each pack is saved, in the order packs are saved. */
  readonly onSaved: (pack: SavedPack) => void;
}

/**
 * Appends sealed blobs to a pack in memory and saves it when full. Memory is bounded
 * by `packSize × (1 + uploads)`. The pack is named by the BLAKE3 of its bytes, so
 * anyone can check a pack file without the key.
 */
export class PackWriter {
  private parts: Buffer[] = [];
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
    this.parts.push(blob.sealed);
    this.size += blob.sealed.length;
    if (this.size >= this.options.packSize) await this.close();
  }

  /** Closes the current pack (if any) and waits for every save. */
  async flush(): Promise<void> {
    if (this.size > 0) await this.close();
    while (this.running.size > 0) await Promise.race(this.running);
    if (this.failure !== undefined) throw this.failure;
  }

  private async close(): Promise<void> {
    const entries = this.entries;
    const parts = this.parts;
    this.entries = [];
    this.parts = [];
    this.size = 0;
    parts.push(encodePackTrailer(this.options.key, entries));
    const hasher = new Blake3Hasher();
    let size = 0;
    for (const part of parts) {
      hasher.update(part);
      size += part.length;
    }
    const id = hasher.digest('hex');
    // One Buffer: replayable by the retry wrapper. (A stream of the parts would spare
    // this copy, but the fs driver's stream path does not finish yet.)
    const body = Buffer.concat(parts, size);
    parts.length = 0;
    while (this.running.size >= (this.options.uploads ?? 2)) await Promise.race(this.running);
    if (this.failure !== undefined) throw this.failure;
    const save = this.options.backend
      .save(packName(id), body, { ...(this.options.signal ? { signal: this.options.signal } : {}) })
      .then(
        () => this.options.onSaved({ id, entries, size }),
        (error: unknown) => {
          this.failure ??= error;
        },
      )
      .finally(() => this.running.delete(save));
    this.running.add(save);
  }
}
