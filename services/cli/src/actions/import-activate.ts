import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface ImportActivateOptions {
  readonly config?: string;
  readonly force?: boolean;
}

/** `pullback import <instance> --activate`: fences the active and activates this fallback. */
export async function importActivate(
  _instance: string,
  _options: ImportActivateOptions,
  _context: CommandContext,
): Promise<void> {
  notImplemented('import', 'the election');
}
