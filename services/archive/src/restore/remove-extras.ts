import { rm } from 'node:fs/promises';
import { type SourceStats, walkSource } from '../fs/walk-source.js';
import { nativePath } from '../snapshot/file-name.js';
import { comparePaths, type TreeEntry } from '../snapshot/tree-entry.js';
import type { Placement } from './relocations.js';

/**
 * Delta: removes what the target has and the snapshot does not, and entries whose
 * type differs (a directory where the snapshot has a file, a file where it has a
 * symlink...), walking both trees in their common order. Returns how many it removed.
 */
export async function removeExtras(
  target: string,
  tree: AsyncGenerator<TreeEntry>,
  signal: AbortSignal | undefined,
  placement?: Placement,
): Promise<number> {
  let removed = 0;
  let next = await tree.next();
  for await (const existing of walkSource(target, undefined, signal)) {
    if (existing.path === '') continue;
    while (!next.done && comparePaths(next.value.path, existing.path) < 0) next = await tree.next();
    // A relocated subtree is compared where it goes; what the target has in its place goes.
    const relocated = placement?.rootOf(existing.path) !== undefined;
    const wanted = !relocated && !next.done && next.value.path === existing.path ? next.value : undefined;
    if (wanted && sameType(wanted, existing.stats)) continue;
    await rm(nativePath(existing.absolute), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function sameType(entry: TreeEntry, stats: SourceStats): boolean {
  if (entry.type === 'dir') return stats.isDirectory();
  if (entry.type === 'symlink') return stats.isSymbolicLink();
  // Files and hard links.
  return stats.isFile();
}
