import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

/** `pullback demo`: a local sandbox running the whole pipeline. */
export async function demo(_context: CommandContext): Promise<void> {
  notImplemented('demo', 'the demo');
}
