import type { CommandContext } from '../context.js';
import { notImplemented } from '../errors.js';

export interface ExportNowOptions {
  readonly config?: string;
}

/** `pullback export <component> --now`: queues an export job now, outside the schedule. */
export async function exportNow(
  _component: string,
  _options: ExportNowOptions,
  _context: CommandContext,
): Promise<void> {
  notImplemented('export', 'the pipeline');
}
