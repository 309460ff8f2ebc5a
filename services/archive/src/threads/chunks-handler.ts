import { idKey } from '../blob-index/blob-location.js';
import { openForRead, readFully, withFd } from '../fs/read-range.js';
import { isAllZero } from '../fs/zero-blocks.js';
import { sealBlobWithId } from '../pack/blob-codec.js';
import { BlobType, type SealedBlob } from '../pack/blob-entry.js';
import { hasSortedId } from './sorted-ids.js';
import type { ChunksResult, ChunksTask } from './tasks.js';
import { scratch, type WorkContext } from './work-context.js';

/**
 * Content-defined chunks of one stretch of a file. The stretch ends at the first cut
 * at or past `softEnd`, so a large file is cut exactly as if read in one pass, while a
 * task never holds more than `softEnd - start + maxSize` bytes.
 */
export async function handleChunks(ctx: WorkContext, task: ChunksTask): Promise<ChunksResult> {
  const want = task.softEnd - task.start + ctx.config.chunker.maxSize;
  const data = scratch(want);
  // A file inside a container ends at its size, not at the container's end.
  const length = task.size === undefined ? want : Math.max(0, Math.min(want, task.size - task.start));
  const read = withFd(openForRead(task.path), (fd) =>
    readFully(fd, data, (task.base ?? 0) + task.start, length),
  );
  const eof = read < want;
  // Repeats within this task; the parent's ids are looked up in `task.known`.
  const sealed = new Set<string>();
  const chunks: { id: Buffer; length: number }[] = [];
  const blobs: SealedBlob[] = [];
  let position = 0;
  while (position < read && (position === 0 || task.start + position < task.softEnd)) {
    const length = ctx.chunker.cut(data, position, read);
    const chunk = data.subarray(position, position + length);
    const id = isAllZero(chunk) ? zeroChunkId(ctx, chunk) : ctx.hash.digest(chunk);
    chunks.push({ id, length });
    const key = idKey(id);
    if (!sealed.has(key) && !(task.known && hasSortedId(task.known, id))) {
      sealed.add(key);
      blobs.push(await sealBlobWithId(ctx.encryptionKey, BlobType.Data, id, chunk, ctx.compression));
    }
    position += length;
  }
  return { chunks, blobs, end: task.start + position, eof: eof && position >= read };
}

/**
 * The id of an all-zero chunk: a sparse file's holes read as zeros and cut into the
 * same few chunk lengths (mostly `maxSize`), so each length is hashed once. A check
 * for zeros stops at the first byte that is not: it costs nothing on other data.
 */
function zeroChunkId(ctx: WorkContext, chunk: Buffer): Buffer {
  let id = ctx.zeroChunkIds.get(chunk.length);
  if (id === undefined) {
    if (ctx.zeroChunkIds.size >= 64) ctx.zeroChunkIds.clear();
    id = ctx.hash.digest(chunk);
    ctx.zeroChunkIds.set(chunk.length, id);
  }
  return id;
}
