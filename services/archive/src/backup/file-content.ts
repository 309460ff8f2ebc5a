import { isRelationPath } from '../chunking/file-kind.js';
import type { SourceEntry } from '../fs/walk-source.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import { storeChunkedFile } from './chunked-file.js';
import type { ContentWork, StoredFile } from './content-work.js';
import { storeOverlaidFile } from './overlaid-file.js';
import { storePagedFile } from './paged-file.js';
import { SmallFiles } from './small-files.js';

/**
 * How each file's content is stored: the parent's taken as it is when the file is
 * unchanged, new pages laid over the parent's (a `PageOverlay`), else read as a small
 * file, a relation file (by pages) or any other (cut by content).
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
    const relation = isRelationPath(source.path);
    if (size === 0) return { size: 0 };
    if (source.overlay) return storeOverlaidFile(this.work, source, size, parentFile, this.onReused);
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
    if (size < this.work.archive.config.smallFileMax) return this.small.add(source, parentFile);
    if (relation) return storePagedFile(this.work, source, size, parentFile);
    return storeChunkedFile(this.work, source, parentFile);
  }

  /** Sends the small files waiting for their batch to fill up. */
  flushSmall(): void {
    this.small.flush();
  }
}
