import { isArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import type { Snapshot } from '../snapshot/manifest.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { type MetadataIndex, readTree } from '../snapshot/tree-io.js';

/**
 * The parent snapshot's tree, for comparison only: if part of it cannot be read (a
 * tree blob lost or damaged), the backup goes on as if the parent ended there (the
 * files after that point are read again), and says so. A damaged parent must not stop
 * the backup that would repair the archive.
 */
export async function* readParentTree(
  archive: Archive,
  metadata: MetadataIndex,
  parent: Snapshot,
  signal?: AbortSignal,
): AsyncGenerator<TreeEntry> {
  let last = '';
  try {
    for await (const entry of readTree(archive, metadata, parent.tree, parent.id, signal)) {
      last = entry.path;
      yield entry;
    }
  } catch (error) {
    if (isArchiveError(error, 'aborted') || !isArchiveError(error)) throw error;
    archive.warn(
      `parent:${parent.id}`,
      `parent snapshot ${parent.id.slice(0, 12)} is unreadable after ${JSON.stringify(last || '.')} (${error.message}): the files after it are read again`,
    );
  }
}
