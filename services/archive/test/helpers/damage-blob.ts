import { idKey } from '../../src/blob-index/blob-location.js';
import { findBlobs } from '../../src/blob-index/index-file.js';
import { packName } from '../../src/pack/pack-writer.js';
import type { Archive } from '../../src/repository/archive.js';
import { readAll } from '../../src/repository/stream-bytes.js';
import { findSnapshot } from '../../src/snapshot/find-snapshot.js';
import { loadMetadataIndex, readTree } from '../../src/snapshot/tree-io.js';

/**
 * Flips one byte in the middle of the first data blob of `path` in a snapshot, in its
 * pack, through the backend (so on any driver). Returns the blob's id (hex).
 */
export async function damageFirstBlobOf(
  archive: Archive,
  snapshotRef: string,
  path: string,
): Promise<string> {
  const snapshot = await findSnapshot(archive, snapshotRef);
  const indexes = await archive.openIndexes();
  const metadata = await loadMetadataIndex(archive, undefined, indexes);
  let blob: string | undefined;
  for await (const entry of readTree(archive, metadata, snapshot.tree, snapshot.id)) {
    if (entry.path !== path) continue;
    const content = entry.content;
    if (content && 'small' in content) blob = content.small.blob;
    else if (content && 'chunks' in content) blob = content.chunks[0]![0];
    else throw new Error(`${path}: not a small or chunked file`);
  }
  if (blob === undefined) throw new Error(`${path} is not in snapshot ${snapshotRef}`);
  const key = idKey(Buffer.from(blob, 'hex'));
  const location = findBlobs(indexes, new Set([key])).get(key)!;
  const name = packName(location.pack);
  const bytes = await readAll(await archive.backend.load(name));
  const at = location.offset + Math.floor(location.length / 2);
  bytes[at] = bytes[at]! ^ 1;
  await archive.backend.save(name, bytes);
  return blob;
}
