import { plainHash } from '../crypto/hash.js';
import type { SavedPack } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import { encodeIndex, type IndexedPack } from './index-file.js';

/** An index object is written once this many blob entries are waiting (about 4.6 MB). */
const ENTRIES_PER_INDEX = 100_000;

/**
 * Collects saved packs and writes `index/<id>` objects listing them. An index object
 * only ever names packs already saved, and `flush` is awaited before the snapshot is
 * written, which gives the order packs → index → snapshot.
 */
export class IndexWriter {
  private packs: IndexedPack[] = [];
  private entries = 0;
  private readonly writes = new Set<Promise<void>>();
  private failure: unknown;
  bytesWritten = 0;

  constructor(private readonly archive: Archive) {}

  add(pack: SavedPack): void {
    this.packs.push({ id: pack.id, entries: pack.entries });
    this.entries += pack.entries.length;
    if (this.entries >= ENTRIES_PER_INDEX) this.write();
  }

  async flush(): Promise<void> {
    if (this.packs.length > 0) this.write();
    await Promise.all(this.writes);
    if (this.failure !== undefined) throw this.failure;
  }

  private write(): void {
    const body = encodeIndex(this.archive.keys.encryption, { supersedes: [], packs: this.packs });
    this.packs = [];
    this.entries = 0;
    this.bytesWritten += body.length;
    const write = this.archive.backend
      .save(`index/${plainHash(body).toString('hex')}`, body)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }
}
