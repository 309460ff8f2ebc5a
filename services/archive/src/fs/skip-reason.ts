/** The reason given for a file or directory gone since it was listed. */
export const VANISHED = 'vanished';

/**
 * Why an entry whose read failed with `error` is left out of a backup, or undefined
 * when the error must fail the backup. Files vanish and permissions deny while a live
 * tree is read: the snapshot is still made without them, and each is reported (as
 * restic does, exiting 3). Anything else (EIO, a full table of open files) is not
 * about one entry and fails the backup.
 */
export function skipReason(error: unknown): string | undefined {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return VANISHED;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'replaced by a symlink';
    default:
      return undefined;
  }
}
