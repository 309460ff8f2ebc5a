import { isStoredByPages } from '../chunking/file-kind.js';
import { canOverlayPages } from '../fs/page-overlay.js';
import type { SourceEntry } from '../fs/walk-source.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { storeChunkedFile } from './chunked-file.js';
import type { ContentWork, StoredFile } from './content-work.js';
import { storeOverlaidFile, storePagesInPlace } from './overlaid-file.js';
import { storePagedFile } from './paged-file.js';
import { SmallFiles } from './small-files.js';

/**
 * How each file's content is stored: the parent's taken as it is when the file is
 * unchanged, new pages laid over the parent's (a `PageOverlay`), else read as a small
 * file, a relation file or WAL segment (by pages: `isStoredByPages`) or any other (cut by content).
 */
export class FileContents {
  private readonly small: SmallFiles;

  constructor(
    private readonly work: ContentWork,
    /** Read files that look unchanged too (`BackupTreeOptions.force`). */
    private readonly force: boolean,
    /** Told of the bytes of files taken unchanged from the parent. */
    private readonly onReused: (bytes: number) => void,
  ) {
    this.small = new SmallFiles(work);
  }

  async of(
    source: SourceEntry,
    size: number,
    mtime: string,
    ctime: string,
    parent: TreeEntry | undefined,
  ): Promise<StoredFile | string> {
    const parentFile = parent?.type === 'file' ? parent : undefined;
    const byPages = isStoredByPages(source.path);
    if (size === 0) return { size: 0 };
    if (source.overlay) return storeOverlaidFile(this.work, source, size, parentFile, this.onReused);
    const { config } = this.work.archive;
    if (source.changedPages !== undefined && parentFile?.content) {
      // What the source vouches for, where the parent can take it; else read below.
      if (source.changedPages.length === 0 && parentFile.size === size) {
        this.onReused(size);
        return { content: parentFile.content, size };
      }
      if (
        canOverlayPages(config, parentFile, size, config.pageSize) &&
        fitsParent(source.changedPages, parentFile.size ?? 0, size, config.pageSize)
      ) {
        return storePagesInPlace(this.work, source, size, parentFile, this.onReused);
      }
    }
    // Unchanged by size, mtime and ctime (nanoseconds): not read again, relation files
    // included, as pgBackRest trusts timestamps (PostgreSQL writes move mtime). A source
    // without real ctimes (a tar) gives none that match, so everything is read there.
    if (
      !this.force &&
      parentFile &&
      parentFile.size === size &&
      parentFile.mtime === mtime &&
      parentFile.ctime === ctime &&
      parentFile.content
    ) {
      this.onReused(size);
      return { content: parentFile.content, size };
    }
    if (size < config.smallFileMax) return this.small.add(source, parentFile);
    if (byPages) return storePagedFile(this.work, source, size, parentFile);
    return storeChunkedFile(this.work, source, parentFile);
  }

  /** Sends the small files waiting for their batch to fill up. */
  flushSmall(): void {
    this.small.flush();
  }
}

/**
 * Whether `pages` (increasing, each inside the new `size`) changed of a file that was
 * `parentSize` bytes, every page it grew by among them: then the parent's other pages
 * are the file's.
 */
function fitsParent(pages: Uint32Array, parentSize: number, size: number, pageSize: number): boolean {
  const parentPages = Math.ceil(parentSize / pageSize);
  const newPages = Math.ceil(size / pageSize);
  let grown = 0;
  for (let i = 0; i < pages.length; i++) {
    const block = pages[i]!;
    if ((block + 1) * pageSize > size || (i > 0 && block <= pages[i - 1]!)) return false;
    if (block >= parentPages) grown++;
  }
  return grown === Math.max(0, newPages - parentPages);
}
