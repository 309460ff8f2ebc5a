import type { RetentionPolicy } from '@pullback/pipeline';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

/** The `--keep-*` options mirror the config's retention keys one for one. */
export interface ForgetOptions extends ArchiveFlags, RetentionPolicy {
  readonly component?: string;
  readonly prune?: boolean;
  readonly dryRun?: boolean;
}

/** `pullback forget`: drops the snapshots the retention policy does not keep, and with prune their data. */
export async function forget(_options: ForgetOptions, _context: CommandContext): Promise<void> {
  notImplemented('forget', 'the archive');
}
