import { type BlobLocation, idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { findLiveBlobs } from '../blob-index/live-locations.js';
import { ArchiveError } from '../errors.js';
import { packName } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';

/** A blob of the parent snapshot as stored: its index entry and its sealed bytes. */
export interface SealedParentBlob {
  readonly location: BlobLocation;
  readonly sealed: Buffer;
}

/**
 * Reads data blobs of the parent snapshot, sealed (the worker that uses them opens
 * them): what laying new pages over a parent's file needs of the superblocks it
 * changes. The index objects are opened on first use and kept until the backup ends,
 * as a restore keeps them: a backup that overlays no file never opens them.
 */
export class ParentBlobs {
  private indexes: Promise<IndexObject[]> | undefined;

  constructor(
    private readonly archive: Archive,
    /** Names the parent in errors: "snapshot <id>". */
    private readonly what: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The blobs `ids`, in their order; one missing fails naming the file `path`. */
  async read(ids: readonly Buffer[], path: string): Promise<SealedParentBlob[]> {
    if (ids.length === 0) return [];
    this.indexes ??= this.archive.openIndexes(this.signal);
    const found = await findLiveBlobs(this.archive, await this.indexes, new Set(ids.map(idKey)), this.signal);
    return Promise.all(
      ids.map(async (id) => {
        const location = found.get(idKey(id));
        if (location === undefined) {
          throw new ArchiveError(
            'missing-data',
            `${this.what} file ${path}: blob ${id.toString('hex').slice(0, 16)} is not in the index`,
          );
        }
        const stream = await this.archive.backend.load(
          packName(location.pack),
          { offset: location.offset, length: location.length },
          this.signal ? { signal: this.signal } : {},
        );
        return { location, sealed: await readAll(stream) };
      }),
    );
  }
}
