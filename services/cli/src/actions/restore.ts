import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface RestoreOptions extends ArchiveFlags {
  readonly target: string;
  readonly component?: string;
  /** Point in time to recover to (PostgreSQL components). */
  readonly at?: Date;
  readonly delta?: boolean;
  /** Start PostgreSQL read-only on the restored directory; `port` is then set. */
  readonly start?: boolean;
  readonly port?: number;
}

/** `pullback restore <snapshot-id|latest>`: writes a snapshot out to a directory. */
export async function restore(
  _snapshot: string,
  _options: RestoreOptions,
  _context: CommandContext,
): Promise<void> {
  notImplemented('restore', 'the archive');
}
