import type { SourceEntry } from '../fs/walk-source.js';
import type { FileContent, TreeEntry } from '../snapshot/tree-entry.js';
import type { PageCheckTask } from '../threads/page-check.js';
import type { SmallResult } from '../threads/tasks.js';
import { type ContentWork, type StoredFile, sliceOf } from './content-work.js';
import { pageCheckFor } from './page-checksums.js';

/** Small files per bundle task, at most. */
const SMALL_FILES_PER_TASK = 512;
/** What a small file counts toward the main thread's collection budget. */
const SMALL_FILE_GARBAGE = 8 * 1024;

interface SmallBatchFile {
  readonly path: string;
  /** Relative to the root, for reports. */
  readonly relative: string;
  readonly check?: PageCheckTask;
  /** Where the file sits in a container; empty for a file of its own. */
  readonly slice: { base?: number; size?: number };
  readonly parentHash?: Buffer;
  readonly parentContent?: FileContent;
  readonly resolve: (value: StoredFile | string) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Files smaller than `smallFileMax`, gathered into batches: a worker reads a batch
 * and bundles what changed into blobs, so a tree of many small files costs few tasks.
 */
export class SmallFiles {
  private batch: SmallBatchFile[] = [];

  constructor(private readonly work: ContentWork) {}

  /** Stores the file with the next batch; settles once that batch is done. */
  add(source: SourceEntry, parent: TreeEntry | undefined): Promise<StoredFile | string> {
    const parentContent = parent?.content;
    const parentHash =
      parentContent && 'small' in parentContent ? Buffer.from(parentContent.small.hash, 'hex') : undefined;
    // Each small file leaves a few KiB of garbage on this thread (stats, promises,
    // entries) and little sealed data: count it, or the heap grows over many files.
    this.work.blobs.garbage.spend(SMALL_FILE_GARBAGE);
    const { smallFileMax, bundleSize } = this.work.archive.config;
    const check = pageCheckFor(this.work.pageChecksums, source.path);
    return new Promise((resolve, reject) => {
      this.batch.push({
        path: source.absolute,
        relative: source.path,
        ...(check === undefined ? {} : { check }),
        slice: sliceOf(source),
        ...(parentHash ? { parentHash, parentContent: parentContent! } : {}),
        resolve,
        reject,
      });
      const bytes = this.batch.length * smallFileMax;
      if (this.batch.length >= SMALL_FILES_PER_TASK || bytes >= 4 * bundleSize) this.flush();
    });
  }

  /** Sends the files gathered so far to a worker. */
  flush(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    const { pool, slots, blobs, onRead } = this.work;
    const work = slots.use(async () => {
      const result = await pool.run<SmallResult>({
        kind: 'small',
        files: batch.map((f) => ({
          path: f.path,
          ...f.slice,
          ...(f.parentHash ? { parentHash: f.parentHash } : {}),
          ...(f.check ? { check: f.check } : {}),
        })),
      });
      await blobs.store(result.bundles);
      for (let i = 0; i < batch.length; i++) {
        const file = batch[i]!;
        const done = result.files[i]!;
        if (done.missing) {
          file.resolve(done.why);
          continue;
        }
        onRead(done.size);
        for (const block of done.corrupt ?? []) this.work.pageChecksums?.onCorrupt(file.relative, block);
        if (done.size === 0) file.resolve({ size: 0 });
        else if (done.bundle < 0) file.resolve({ content: file.parentContent!, size: done.size });
        else {
          const blob = result.bundles[done.bundle]!.id.toString('hex');
          file.resolve({
            content: { small: { blob, offset: done.offset, hash: done.hash.toString('hex') } },
            size: done.size,
          });
        }
      }
    });
    work.catch((error: unknown) => {
      for (const file of batch) file.reject(error);
    });
  }
}
