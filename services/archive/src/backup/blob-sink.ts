import { idKey } from '../blob-index/blob-location.js';
import { IndexWriter } from '../blob-index/index-writer.js';
import { GarbageBudget } from '../memory/collect-garbage.js';
import { BlobType, type SealedBlob } from '../pack/blob-entry.js';
import { PackWriter } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import type { KnownBlobs } from './known-blobs.js';

/**
 * Where a backup's blobs go: data and metadata packs, and the index of the packs
 * saved. A blob the archive has, or this backup stored already, is not stored again.
 */
export class BlobSink {
  /** Metadata blobs (trees, maps); the tree writer fills them too. */
  readonly metaPacks: PackWriter;
  private readonly dataPacks: PackWriter;
  private readonly index: IndexWriter;
  /** Ids stored in this run or known in the archive: never stored again. */
  private known: Pick<KnownBlobs, 'has' | 'add'> = new Set<string>();
  private packBytes = 0;
  /** Blobs this backup stored. */
  newBlobs = 0;
  /**
   * Sealed blobs from the workers are garbage once copied into a pack; V8 counts them
   * late, so incompressible data would otherwise pile up (see `collectGarbage`).
   */
  readonly garbage = new GarbageBudget(8 * 1024 * 1024);

  constructor(archive: Archive, signal: AbortSignal | undefined) {
    this.index = new IndexWriter(archive);
    const onSaved = (pack: { id: string; size: number; entries: readonly unknown[] }) => {
      this.packBytes += pack.size;
      this.index.add(pack as Parameters<IndexWriter['add']>[0]);
    };
    const packOptions = {
      backend: archive.backend,
      key: archive.keys.encryption,
      packSize: archive.config.packSize,
      onSaved,
      ...(signal ? { signal } : {}),
    };
    this.dataPacks = new PackWriter(packOptions);
    this.metaPacks = new PackWriter(packOptions);
  }

  /** Takes the archive's blob ids (see `loadDedupIndex`) as stored; the set grows with this run's. */
  knowArchive(known: KnownBlobs): void {
    this.known = known;
  }

  /** True when `id` is new to the archive (and records it as stored). */
  claim(id: Buffer): boolean {
    const key = idKey(id);
    if (this.known.has(key)) return false;
    this.known.add(key);
    this.newBlobs++;
    return true;
  }

  async store(blobs: readonly SealedBlob[]): Promise<void> {
    for (const blob of blobs) {
      this.garbage.spend(blob.sealed.length);
      if (!this.claim(blob.id)) continue;
      await (blob.type === BlobType.Data ? this.dataPacks : this.metaPacks).add(blob);
    }
  }

  /** Saves the last packs, then the index that lists them. */
  async flush(): Promise<void> {
    await this.dataPacks.flush();
    await this.metaPacks.flush();
    await this.index.flush();
  }

  /** Bytes saved so far: packs and index objects. */
  get storedBytes(): number {
    return this.packBytes + this.index.bytesWritten;
  }
}
