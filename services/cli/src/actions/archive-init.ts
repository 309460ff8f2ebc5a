import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export type ArchiveInitOptions = ArchiveFlags;

/** `pullback archive init`: creates an empty archive and says where its key is. */
export async function archiveInit(_options: ArchiveInitOptions, _context: CommandContext): Promise<void> {
  notImplemented('archive init', 'the archive');
}
