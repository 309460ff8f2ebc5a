import { type BlobLocation, idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { liveLocations } from '../blob-index/live-locations.js';
import { ArchiveError } from '../errors.js';
import { configuredCompression, sealBlob } from '../pack/blob-codec.js';
import { BlobType } from '../pack/blob-entry.js';
import type { PackWriter } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import type { TreeEntry } from './tree-entry.js';

const MIN_TREE_BLOB = 64 * 1024;
const MAX_TREE_BLOB = 1024 * 1024;

/**
 * Writes tree entries as JSON lines into tree blobs of bounded size. A blob ends after
 * a line whose keyed hash starts with a byte below 8 (once past 64 KiB), so the cuts
 * follow content: an unchanged stretch of a tree makes the same blobs as last time
 * and is stored once.
 */
export class TreeWriter {
  private lines: Buffer[] = [];
  private size = 0;
  readonly ids: string[] = [];

  constructor(
    private readonly archive: Archive,
    private readonly packs: PackWriter,
    private readonly onNewBlob: (id: Buffer, sealedBytes: number) => boolean,
  ) {}

  async add(entry: TreeEntry): Promise<void> {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    this.lines.push(line);
    this.size += line.length;
    if (
      this.size >= MAX_TREE_BLOB ||
      (this.size >= MIN_TREE_BLOB && this.archive.hash.digest(line)[0]! < 8)
    ) {
      await this.cut();
    }
  }

  async finish(): Promise<string[]> {
    if (this.lines.length > 0) await this.cut();
    return this.ids;
  }

  private async cut(): Promise<void> {
    const plain = Buffer.concat(this.lines);
    this.lines = [];
    this.size = 0;
    const blob = await sealBlob(
      this.archive.keys.encryption,
      this.archive.hash,
      BlobType.Tree,
      plain,
      configuredCompression(this.archive.config.compression),
    );
    this.ids.push(blob.id.toString('hex'));
    if (this.onNewBlob(blob.id, blob.sealed.length)) await this.packs.add(blob);
  }
}

/** Locations of metadata blobs (trees and maps), from the index. */
export type MetadataIndex = Map<string, BlobLocation>;

export async function loadMetadataIndex(
  archive: Archive,
  signal?: AbortSignal,
  indexes?: readonly IndexObject[],
): Promise<MetadataIndex> {
  const opened = indexes ?? (await archive.openIndexes(signal));
  return liveLocations(
    archive,
    (function* () {
      for (const index of opened) yield* index.metadata();
    })(),
    signal,
  );
}

/** Reads one metadata blob by id; a missing one is reported with `what` it belongs to. */
export async function readMetadataBlob(
  archive: Archive,
  index: MetadataIndex,
  id: Buffer,
  what: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const location = index.get(idKey(id));
  if (!location) {
    throw new ArchiveError(
      'missing-data',
      `${what}: blob ${id.toString('hex').slice(0, 16)} is not in the index`,
    );
  }
  try {
    return await archive.readBlob(location, signal);
  } catch (error) {
    if (error instanceof ArchiveError) {
      throw new ArchiveError(error.code, `${what}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Streams a snapshot's tree entries in order, reading one tree blob ahead. */
export async function* readTree(
  archive: Archive,
  index: MetadataIndex,
  treeIds: readonly string[],
  snapshot: string,
  signal?: AbortSignal,
): AsyncGenerator<TreeEntry> {
  const read = (i: number) =>
    readMetadataBlob(archive, index, Buffer.from(treeIds[i]!, 'hex'), `snapshot ${snapshot} tree`, signal);
  let next = treeIds.length > 0 ? read(0) : undefined;
  next?.catch(() => {});
  for (let i = 0; i < treeIds.length; i++) {
    const plain = await next!;
    next = i + 1 < treeIds.length ? read(i + 1) : undefined;
    next?.catch(() => {});
    const text = plain.toString('utf8');
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; start = end + 1, end = text.indexOf('\n', start)) {
      let entry: TreeEntry;
      try {
        entry = JSON.parse(text.slice(start, end)) as TreeEntry;
      } catch (error) {
        throw new ArchiveError('corrupt', `snapshot ${snapshot}: malformed tree entry`, { cause: error });
      }
      yield entry;
    }
  }
}
