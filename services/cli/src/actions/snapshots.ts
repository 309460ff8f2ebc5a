import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface SnapshotsOptions extends ArchiveFlags {
  readonly component?: string;
  readonly json?: boolean;
}

/** `pullback snapshots`: lists the archive's snapshots, newest last. */
export async function listSnapshots(_options: SnapshotsOptions, _context: CommandContext): Promise<void> {
  notImplemented('snapshots', 'the archive');
}
