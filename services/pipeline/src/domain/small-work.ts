import type { Archive } from '@pullback/archive';

/**
 * The work below which a snapshot is archived on the calling thread: starting worker
 * threads (each loads the archive's code and native addons) costs more than hashing and
 * compressing it here. An export that found nothing changed (a WAL segment, pg_control
 * and a few small files) is about 17 MB.
 */
const INLINE_WORK_BYTES = 32 * 1024 * 1024;

/**
 * Whether reading `bytes` of whole files and laying `pages` changed pages over their
 * parent's is small work: each new page costs a superblock, since its parent's
 * superblock is opened and compressed again (scattered pages cost far more than their size).
 */
export function isSmallWork(archive: Archive, bytes: number, pages: number): boolean {
  const { pageSize, superblockPages } = archive.config;
  return bytes + pages * pageSize * superblockPages < INLINE_WORK_BYTES;
}
