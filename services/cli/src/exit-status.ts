import type { ArchiveErrorCode } from '@pullback/archive';

/**
 * Every exit status of `pullback`, in one place; the README's table and the help's
 * "Exit status" say the same. restic's numbers where it has one for the same case.
 * 130 and 143 (SIGINT, SIGTERM) are set by stop-signals.ts.
 */
export const EXIT_STATUS = {
  ok: 0,
  /** The command could not do what was asked: every failure not named below. */
  failed: 1,
  /** The command line cannot be run as written, or the command is not built yet. */
  usage: 2,
  /** A backup made its snapshot but left entries out (each told in a warning). */
  incomplete: 3,
  /** No archive at the location. */
  noArchive: 10,
  /** Another process holds a conflicting lock on the archive. */
  locked: 11,
  /** The archive key is missing, unreadable or wrong. */
  key: 12,
} as const;

/** The status of each archive error code: a script can tell a missing archive, a lock and a key apart. */
const ARCHIVE_EXIT_STATUS: Readonly<Record<ArchiveErrorCode, number>> = {
  'not-an-archive': EXIT_STATUS.noArchive,
  'already-an-archive': EXIT_STATUS.failed,
  'wrong-key': EXIT_STATUS.key,
  'no-key': EXIT_STATUS.key,
  'conflicting-keys': EXIT_STATUS.key,
  'bad-key-file': EXIT_STATUS.key,
  'unsupported-version': EXIT_STATUS.failed,
  'unknown-snapshot': EXIT_STATUS.failed,
  'ambiguous-snapshot': EXIT_STATUS.failed,
  'source-missing': EXIT_STATUS.failed,
  'target-not-empty': EXIT_STATUS.failed,
  'target-not-directory': EXIT_STATUS.failed,
  'unsafe-path': EXIT_STATUS.failed,
  corrupt: EXIT_STATUS.failed,
  'missing-data': EXIT_STATUS.failed,
  locked: EXIT_STATUS.locked,
  'empty-policy': EXIT_STATUS.failed,
  'bad-wal-name': EXIT_STATUS.failed,
  aborted: EXIT_STATUS.failed,
};

/**
 * The exit status of a command that failed with `error` from below the command line
 * (a `CliError` carries its own). The archive's errors are known by name and code, not
 * by class: importing the archive here would load it for every command, `--help`
 * included.
 */
export function exitStatusOf(error: unknown): number {
  if (error instanceof Error && (error.name === 'ArchiveError' || error.name === 'LockedError')) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(ARCHIVE_EXIT_STATUS, code)) {
      return ARCHIVE_EXIT_STATUS[code as ArchiveErrorCode];
    }
  }
  return EXIT_STATUS.failed;
}
