import type { ArchiveConfig } from '../repository/config.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';

/**
 * A relation file given as its parent's with some pages replaced (the pull of an
 * incremental export): every page not listed is the parent's page at the same place,
 * zeros past the parent's end within its last page. The backup stores it without
 * reading the parent's unchanged regions (`storeOverlaidFile`); what it makes is what a
 * backup of the whole new file would make. The entry's `stats.size` is the new size.
 */
export interface PageOverlay {
  /** The parent snapshot's entry of the same path (`canOverlayPages`). */
  readonly parent: TreeEntry;
  /** The file holding the new pages (decoded, as `SourceEntry.absolute`). */
  readonly path: string;
  /**
   * Where in `path` the `count` block numbers start (u32le each, increasing, each a
   * whole page inside the new size); the `count` pages follow them, in that order.
   */
  readonly at: number;
  readonly count: number;
}

/**
 * Whether a file of `size` bytes made of `parent` and pages of `pageSize` bytes can be
 * stored as a `PageOverlay`: the parent is stored as pages of the archive's size, and
 * the new file is large enough to be stored as pages too.
 */
export function canOverlayPages(
  config: ArchiveConfig,
  parent: TreeEntry,
  size: number,
  pageSize: number,
): boolean {
  return (
    parent.type === 'file' &&
    parent.content !== undefined &&
    'pages' in parent.content &&
    pageSize === config.pageSize &&
    size >= config.smallFileMax
  );
}
