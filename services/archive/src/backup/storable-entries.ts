import { ArchiveError } from '../errors.js';
import type { SourceEntry } from '../fs/walk-source.js';
import { unrestorableName } from '../snapshot/name-limits.js';
import { type TreeEntry, TreeValidator } from '../snapshot/tree-entry.js';

/**
 * Refuses an entry a backup is about to store when no restore could take it: by the
 * rules restore and verify read trees with (`TreeValidator`), and by what no filesystem
 * holds (`unrestorableName`). A walk of a directory never trips it; a source that is
 * not one (the members of a tar) can, and must fail before its snapshot commits.
 */
export class StorableEntries {
  private readonly validator = new TreeValidator();

  constructor(private readonly root: string) {}

  check(source: SourceEntry): void {
    const stats = source.stats;
    const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file';
    // Anything else is skipped by the backup, never stored.
    if (type === 'file' && !stats.isFile()) return;
    this.checkEntry({ path: source.path, type, target: source.target } as TreeEntry);
  }

  /** The same check of an entry as it goes into the tree. */
  checkEntry(entry: TreeEntry): void {
    // A hard link's target is the path of an earlier entry, not a link's text.
    const target = entry.type === 'symlink' ? entry.target : undefined;
    const why =
      this.validator.problem(entry) ?? (entry.path === '' ? undefined : unrestorableName(entry.path, target));
    if (why !== undefined) {
      throw new ArchiveError(
        'unsafe-path',
        `cannot back up ${JSON.stringify(entry.path)} of ${this.root}: ${why}`,
      );
    }
  }
}
