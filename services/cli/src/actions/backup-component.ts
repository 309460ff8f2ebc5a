import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export type BackupComponentOptions = ArchiveFlags;

/** `pullback backup <component>`: the component's export and pull, once, in this process, without Redis. */
export async function backupComponent(
  _component: string,
  _options: BackupComponentOptions,
  _context: CommandContext,
): Promise<void> {
  notImplemented('backup', 'the recipes and the pipeline');
}
