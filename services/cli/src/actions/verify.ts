import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface VerifyOptions extends ArchiveFlags {
  readonly readData?: boolean;
  readonly json?: boolean;
}

/** `pullback verify`: checks the archive's structure, and with readData every chunk's bytes. */
export async function verify(_options: VerifyOptions, _context: CommandContext): Promise<void> {
  notImplemented('verify', 'the archive');
}
