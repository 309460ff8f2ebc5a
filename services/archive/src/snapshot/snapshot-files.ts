import type { BlobLocation } from '../blob-index/blob-location.js';
import { idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { findLiveBlobs } from '../blob-index/live-locations.js';
import { ArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { decodeChunkMap } from './chunk-map.js';
import type { Snapshot } from './manifest.js';
import { decodePageMap } from './page-map.js';
import type { TreeEntry } from './tree-entry.js';
import { loadMetadataIndex, type MetadataIndex, readMetadataBlob, readTree } from './tree-io.js';

/**
 * One snapshot's files, read back one at a time without restoring the snapshot: what
 * the pull of an incremental export needs from its parent (the tree, to take unchanged
 * files as they are, and the bytes of a file whose changed pages it lays over).
 * Memory: the index objects (as a restore holds them) and one blob at a time. The
 * caller holds the archive's shared lock (a prune must not remove what it reads).
 */
export class SnapshotFiles {
  private constructor(
    private readonly archive: Archive,
    private readonly snapshot: Snapshot,
    private readonly indexes: readonly IndexObject[],
    private readonly metadata: MetadataIndex,
    private readonly signal: AbortSignal | undefined,
  ) {}

  static async open(archive: Archive, snapshot: Snapshot, signal?: AbortSignal): Promise<SnapshotFiles> {
    const indexes = await archive.openIndexes(signal);
    const metadata = await loadMetadataIndex(archive, signal, indexes);
    return new SnapshotFiles(archive, snapshot, indexes, metadata, signal);
  }

  /** The tree's entries, in tree order (`comparePaths`). */
  entries(): AsyncGenerator<TreeEntry> {
    return readTree(this.archive, this.metadata, this.snapshot.tree, this.snapshot.id, this.signal);
  }

  /** A file entry's bytes, in order, a blob's worth at a time; each blob is authenticated as it is read. */
  async *content(entry: TreeEntry): AsyncGenerator<Buffer> {
    const content = entry.content;
    if (entry.type !== 'file' || content === undefined) return;
    const what = `snapshot ${this.snapshot.id} file ${entry.path}`;
    if ('small' in content) {
      const blob = await this.blob(Buffer.from(content.small.blob, 'hex'), what);
      yield blob.subarray(content.small.offset, content.small.offset + (entry.size ?? 0));
    } else if ('pages' in content) {
      for (const mapId of content.pages) {
        const map = decodePageMap(await this.map(mapId, what));
        const blobs = await this.locate(map.blobs, what);
        // Runs of one blob follow each other: each blob is read once for all of them.
        const slices: { location: BlobLocation; pieces: [offset: number, length: number][] }[] = [];
        let lastIndex = -1;
        for (let run = 0; run < map.runs.length; run += 4) {
          const blobIndex = map.runs[run + 2]!;
          if (blobIndex !== lastIndex) slices.push({ location: blobs[blobIndex]!, pieces: [] });
          lastIndex = blobIndex;
          slices.at(-1)!.pieces.push([map.runs[run + 3]!, map.runs[run + 1]!]);
        }
        for await (const [plain, slice] of this.readAhead(slices, (slice) => slice.location)) {
          for (const [offset, length] of slice.pieces) yield plain.subarray(offset, offset + length);
        }
      }
    } else {
      const ids =
        'chunks' in content
          ? content.chunks.map(([id]) => Buffer.from(id, 'hex'))
          : (
              await Promise.all(
                content.chunkMaps.map(async (map) => decodeChunkMap(await this.map(map, what))),
              )
            ).flatMap((chunks) => chunks.map((chunk) => chunk.id));
      // Located a batch at a time: one scan of the indexes per batch.
      for (let start = 0; start < ids.length; start += LOCATE_BATCH) {
        const locations = await this.locate(ids.slice(start, start + LOCATE_BATCH), what);
        for await (const [plain] of this.readAhead(locations, (location) => location)) yield plain;
      }
    }
  }

  /** The blobs of `items`, in order, READ_AHEAD of them read at once (their I/O overlaps). */
  private async *readAhead<T>(
    items: readonly T[],
    locationOf: (item: T) => BlobLocation,
  ): AsyncGenerator<[Buffer, T]> {
    const reads: Promise<Buffer>[] = [];
    const start = (index: number) => {
      const read = this.archive.readBlob(locationOf(items[index]!), this.signal);
      // Awaited in turn below; one that fails before its turn must not go unhandled.
      read.catch(() => {});
      reads.push(read);
    };
    for (let index = 0; index < Math.min(READ_AHEAD, items.length); index++) start(index);
    for (let index = 0; index < items.length; index++) {
      const plain = await reads[index]!;
      reads[index] = EMPTY;
      if (index + READ_AHEAD < items.length) start(index + READ_AHEAD);
      yield [plain, items[index]!];
    }
  }

  private map(id: string, what: string): Promise<Buffer> {
    return readMetadataBlob(this.archive, this.metadata, Buffer.from(id, 'hex'), what, this.signal);
  }

  private async blob(id: Buffer, what: string): Promise<Buffer> {
    const [location] = await this.locate([id], what);
    return this.archive.readBlob(location!, this.signal);
  }

  /** The locations of `ids`, in their order; a missing one fails naming the file. */
  private async locate(ids: readonly Buffer[], what: string): Promise<BlobLocation[]> {
    const keys = new Set(ids.map(idKey));
    const found = await findLiveBlobs(this.archive, this.indexes, keys, this.signal);
    return ids.map((id) => {
      const location = found.get(idKey(id));
      if (location === undefined) {
        throw new ArchiveError(
          'missing-data',
          `${what}: blob ${id.toString('hex').slice(0, 16)} is not in the index`,
        );
      }
      return location;
    });
  }
}

/** Data blobs located at once. */
const LOCATE_BATCH = 1024;
/** Blobs read at once: at most this many (each up to a chunk's or superblock's size) are held. */
const READ_AHEAD = 8;
const EMPTY: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
