import type { Archive } from '../repository/archive.js';
import { decodeChunkMap } from '../snapshot/chunk-map.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { type MetadataIndex, readMetadataBlob } from '../snapshot/tree-io.js';

/** Reads the maps (page and chunk maps) of a snapshot's files. */
export class FileMaps {
  constructor(
    private readonly archive: Archive,
    /** Where metadata blobs are; known once the restore has read the index. */
    private readonly metadata: () => MetadataIndex,
    private readonly snapshotId: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** A map blob's plaintext; `path` names the file in errors. */
  read(id: string, path: string): Promise<Buffer> {
    return readMetadataBlob(
      this.archive,
      this.metadata(),
      Buffer.from(id, 'hex'),
      `snapshot ${this.snapshotId} file ${path}`,
      this.signal,
    );
  }

  /** The chunks of a chunked file, inline or from its chunk maps, in file order. */
  async *chunks(
    content: NonNullable<TreeEntry['content']>,
    path: string,
  ): AsyncGenerator<{ id: Buffer; length: number }> {
    if ('chunks' in content) {
      for (const [id, length] of content.chunks) yield { id: Buffer.from(id, 'hex'), length };
    } else if ('chunkMaps' in content) {
      for (const map of content.chunkMaps) yield* decodeChunkMap(await this.read(map, path));
    }
  }
}
