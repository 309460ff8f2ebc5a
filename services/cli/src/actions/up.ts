import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface UpOptions {
  readonly config?: string;
}

/** `pullback up`: every worker in this process until SIGINT/SIGTERM (`context.signal`). */
export async function up(_options: UpOptions, _context: CommandContext): Promise<void> {
  notImplemented('up', 'the pipeline');
}
