import { relationSegment } from '../chunking/file-kind.js';
import { PAGES_PER_SEGMENT } from '../chunking/page-checksum.js';
import type { PageCheckTask } from '../threads/page-check.js';

/**
 * PostgreSQL data checksums checked as a backup reads a running server's data
 * directory, as pgBackRest does: every page of a relation file, re-read once when
 * wrong. A corrupt page is reported, never a reason to fail the backup.
 */
export interface PageChecksums {
  /** The backup's start LSN: pages changed since are replayed from WAL on restore. */
  readonly startLsn: bigint;
  /** Told of each page still wrong: the file (relative to the root) and its block number in the relation. */
  readonly onCorrupt: (path: string, block: number) => void;
}

/** What a task is given to check the file `path`'s pages, or undefined when it is no relation file. */
export function pageCheckFor(checksums: PageChecksums | undefined, path: string): PageCheckTask | undefined {
  if (checksums === undefined) return undefined;
  const segment = relationSegment(path);
  if (segment === undefined) return undefined;
  return { firstBlock: segment * PAGES_PER_SEGMENT, startLsn: checksums.startLsn };
}
