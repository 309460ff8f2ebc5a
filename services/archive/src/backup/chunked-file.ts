import { throwIfAborted } from '../errors.js';
import { skipReason } from '../fs/skip-reason.js';
import type { SourceEntry } from '../fs/walk-source.js';
import { sealBlob } from '../pack/blob-codec.js';
import { BlobType, Compression } from '../pack/blob-entry.js';
import { type ChunkRef, decodeChunkMap, encodeChunkMap, endsChunkMap } from '../snapshot/chunk-map.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { sharedSortedIds } from '../threads/sorted-ids.js';
import type { ChunksResult } from '../threads/tasks.js';
import { type ContentWork, type StoredFile, sliceOf } from './content-work.js';

/** Bytes a content-defined task reads before it looks for its last cut. */
const CHUNK_TASK_BYTES = 2 * 1024 * 1024;
/** Chunk lists up to this long stay inline in the tree entry. */
const INLINE_CHUNKS = 32;

/**
 * Stores a file cut by content, a task of about `CHUNK_TASK_BYTES` at a time; a long
 * chunk list goes into chunk map blobs.
 */
export async function storeChunkedFile(
  work: ContentWork,
  source: SourceEntry,
  parent: TreeEntry | undefined,
): Promise<StoredFile | string> {
  const { archive, pool, slots, blobs, signal, onRead } = work;
  const known = await parentChunkIds(work, source.path, parent);
  const chunks: ChunkRef[] = [];
  let start = 0;
  for (;;) {
    const result = await slots.use(async () => {
      throwIfAborted(signal);
      let result: ChunksResult;
      try {
        result = await pool.run<ChunksResult>({
          kind: 'chunks',
          path: source.absolute,
          ...sliceOf(source),
          start,
          softEnd: start + CHUNK_TASK_BYTES,
          ...(known ? { known } : {}),
        });
      } catch (error) {
        const why = skipReason(error);
        if (why === undefined) throw error;
        return why;
      }
      await blobs.store(result.blobs);
      onRead(result.end - start);
      return result;
    });
    if (typeof result === 'string') return result;
    chunks.push(...result.chunks);
    start = result.end;
    if (result.eof) break;
  }
  const size = chunks.reduce((sum, c) => sum + c.length, 0);
  if (size === 0) return { size: 0 };
  if (chunks.length <= INLINE_CHUNKS) {
    return { content: { chunks: chunks.map((c) => [c.id.toString('hex'), c.length] as const) }, size };
  }
  const maps: string[] = [];
  let current: ChunkRef[] = [];
  const cut = async () => {
    const blob = await sealBlob(
      archive.keys.encryption,
      archive.hash,
      BlobType.Map,
      encodeChunkMap(current),
      // Ids and lengths: nothing to compress.
      Compression.None,
    );
    maps.push(blob.id.toString('hex'));
    await blobs.store([blob]);
    current = [];
  };
  for (const chunk of chunks) {
    current.push(chunk);
    if (endsChunkMap(chunk.id, current.length)) await cut();
  }
  if (current.length > 0) await cut();
  return { content: { chunkMaps: maps }, size };
}

/** The parent's chunk ids for the same path, which workers need not seal again (shared by every task of the file). */
async function parentChunkIds(
  work: ContentWork,
  path: string,
  parent: TreeEntry | undefined,
): Promise<Buffer | undefined> {
  const content = parent?.content;
  if (!content) return undefined;
  if ('chunks' in content) return sharedSortedIds(content.chunks.map(([id]) => Buffer.from(id, 'hex')));
  if (!('chunkMaps' in content)) return undefined;
  const ids: Buffer[] = [];
  for (const map of content.chunkMaps) {
    const plain = await work.readParentMap(Buffer.from(map, 'hex'), path);
    for (const chunk of decodeChunkMap(plain)) ids.push(chunk.id);
  }
  return ids.length > 0 ? sharedSortedIds(ids) : undefined;
}
