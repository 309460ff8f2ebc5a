import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export type BackupFilesOptions = ArchiveFlags;

/** `pullback backup files PATH`: one snapshot of a directory tree, straight into the archive. */
export async function backupFiles(
  _path: string,
  _options: BackupFilesOptions,
  _context: CommandContext,
): Promise<void> {
  notImplemented('backup files', 'the archive');
}
