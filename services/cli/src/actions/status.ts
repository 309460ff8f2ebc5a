import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface StatusOptions {
  readonly config?: string;
  readonly json?: boolean;
}

/** `pullback status`: each component's active, fallbacks, their positions and the last snapshot. */
export async function status(_options: StatusOptions, _context: CommandContext): Promise<void> {
  notImplemented('status', 'the pipeline');
}
