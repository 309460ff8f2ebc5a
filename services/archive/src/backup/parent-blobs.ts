import { type BlobLocation, idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { findLiveBlobs, liveLocations } from '../blob-index/live-locations.js';
import { ArchiveError } from '../errors.js';
import { packName } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import type { KnownBlobs } from './known-blobs.js';

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
  /** The backup's table of the archive's blob ids, when it holds every one (`useTable`). */
  private table: { readonly known: KnownBlobs; readonly byBytes: Map<Buffer, IndexObject> } | undefined;

  constructor(
    private readonly archive: Archive,
    /** Names the parent in errors: "snapshot <id>". */
    private readonly what: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /**
   * The blobs `ids`, in their order; one missing fails naming the file `path`. Blobs
   * lying together in a pack (a file's blobs were stored in order) are read in one
   * request: a superblock takes bytes from a few, and a region's changed superblocks
   * from many, which one open and read each made the pull of scattered changes cost
   * more than a full backup.
   */
  /**
   * Finds blobs through `known` (the backup's dedup table over `indexes`, holding every
   * id): a lookup per blob, where a scan of every index entry per call made the pull of
   * scattered changes cost the number of changed regions times the archive's size.
   */
  useTable(known: KnownBlobs, indexes: readonly IndexObject[]): void {
    this.table = { known, byBytes: new Map(indexes.map((index) => [index.bytes, index])) };
  }

  async read(ids: readonly Buffer[], path: string): Promise<SealedParentBlob[]> {
    if (ids.length === 0) return [];
    const found = await this.find(ids);
    const locations = ids.map((id) => {
      const location = found.get(idKey(id));
      if (location === undefined) {
        throw new ArchiveError(
          'missing-data',
          `${this.what} file ${path}: blob ${id.toString('hex').slice(0, 16)} is not in the index`,
        );
      }
      return location;
    });
    const sealed: Buffer[] = new Array(locations.length);
    await Promise.all(
      runsOf(locations).map(async (run) => {
        const first = locations[run[0]!]!;
        const last = locations[run.at(-1)!]!;
        const stream = await this.archive.backend.load(
          packName(first.pack),
          { offset: first.offset, length: last.offset + last.length - first.offset },
          this.signal ? { signal: this.signal } : {},
        );
        // Each blob into its own buffer as the bytes arrive (the worker it is handed to
        // takes its memory), the gaps between them dropped: the run is never held whole.
        const buffers = run.map((index) => Buffer.allocUnsafeSlow(locations[index]!.length));
        let at = first.offset;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          const chunkEnd = at + chunk.length;
          for (let member = 0; member < run.length; member++) {
            const { offset, length } = locations[run[member]!]!;
            const from = Math.max(at, offset);
            const to = Math.min(chunkEnd, offset + length);
            if (from < to) chunk.copy(buffers[member]!, from - offset, from - at, to - at);
          }
          at = chunkEnd;
        }
        if (at < last.offset + last.length) {
          throw new ArchiveError('missing-data', `${this.what} file ${path}: pack ${first.pack} ends early`);
        }
        run.forEach((index, member) => {
          sealed[index] = buffers[member]!;
        });
      }),
    );
    return locations.map((location, index) => ({ location, sealed: sealed[index]! }));
  }

  /** Every location of `ids` the index lists, one per blob, in a pack that exists. */
  private async find(ids: readonly Buffer[]): Promise<Map<string, BlobLocation>> {
    const { table } = this;
    if (table === undefined) {
      this.indexes ??= this.archive.openIndexes(this.signal);
      return findLiveBlobs(this.archive, await this.indexes, new Set(ids.map(idKey)), this.signal);
    }
    const locations: BlobLocation[] = [];
    for (const id of ids) {
      for (const { bytes, at } of table.known.where(idKey(id))) {
        const index = table.byBytes.get(bytes);
        // The id follows the entry's type and compression bytes.
        if (index !== undefined) locations.push(index.locationAt(at - 2));
      }
    }
    return liveLocations(this.archive, locations, this.signal);
  }
}

/** Bytes between two blobs still read in one request rather than two. */
const MAX_GAP = 64 * 1024;
/** The most one request reads. */
const MAX_RUN = 8 * 1024 * 1024;

/** The blobs' indices grouped into runs that lie close together in one pack, each in pack order. */
function runsOf(locations: readonly BlobLocation[]): number[][] {
  const order = locations
    .map((_, index) => index)
    .sort((a, b) => {
      const x = locations[a]!;
      const y = locations[b]!;
      return x.pack < y.pack ? -1 : x.pack > y.pack ? 1 : x.offset - y.offset;
    });
  const runs: number[][] = [];
  let run: number[] = [];
  let start = 0;
  let end = 0;
  let pack = '';
  for (const index of order) {
    const { pack: where, offset, length } = locations[index]!;
    if (run.length > 0 && (where !== pack || offset - end > MAX_GAP || offset + length - start > MAX_RUN)) {
      runs.push(run);
      run = [];
    }
    if (run.length === 0) {
      start = offset;
      end = offset;
      pack = where;
    }
    run.push(index);
    end = Math.max(end, offset + length);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
