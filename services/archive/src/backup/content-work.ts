import type { Semaphore } from '../concurrency/semaphore.js';
import type { SourceEntry } from '../fs/walk-source.js';
import type { Archive } from '../repository/archive.js';
import type { FileContent } from '../snapshot/tree-entry.js';
import type { WorkerPool } from '../threads/worker-pool.js';
import type { BlobSink } from './blob-sink.js';
import type { PageChecksums } from './page-checksums.js';
import type { SealedParentBlob } from './parent-blobs.js';

/** What storing a file's content uses, shared by every file of a backup. */
export interface ContentWork {
  readonly archive: Archive;
  readonly pool: WorkerPool;
  /** Tasks in flight, enough to keep every worker busy while results are packed. */
  readonly slots: Semaphore;
  readonly blobs: BlobSink;
  readonly signal: AbortSignal | undefined;
  /** Told of the source bytes a task read. */
  readonly onRead: (bytes: number) => void;
  /** A metadata blob (a page or chunk map) of the parent snapshot's file `path`. */
  readonly readParentMap: (id: Buffer, path: string) => Promise<Buffer>;
  /** Data blobs of the parent snapshot's file `path`, sealed, in the order of `ids`. */
  readonly readParentBlobs: (ids: readonly Buffer[], path: string) => Promise<SealedParentBlob[]>;
  /** Relation files' pages checked as they are read (`BackupTreeOptions.pageChecksums`). */
  readonly pageChecksums?: PageChecksums;
}

/** A file's content as stored; a string instead says why the file was not (`skipReason`). */
export interface StoredFile {
  readonly content?: FileContent;
  readonly size: number;
}

/** Where a member of a container sits in it; nothing for a file of its own. */
export function sliceOf(source: SourceEntry): { base?: number; size?: number } {
  return source.base === undefined ? {} : { base: source.base, size: Number(source.stats.size) };
}
