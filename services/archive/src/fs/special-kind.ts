import { constants } from 'node:fs';

/**
 * What an entry that is neither a file, a directory nor a symlink is, by its `st_mode`:
 * the word the warnings about leaving it out use.
 */
export function specialKind(mode: number | bigint): string {
  switch (Number(mode) & constants.S_IFMT) {
    case constants.S_IFIFO:
      return 'fifo';
    case constants.S_IFSOCK:
      return 'socket';
    case constants.S_IFCHR:
      return 'character device';
    case constants.S_IFBLK:
      return 'block device';
    default:
      return 'special file';
  }
}
