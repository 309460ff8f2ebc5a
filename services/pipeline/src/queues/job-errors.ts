import { isArchiveError } from '@pullback/archive';
import { isPipelineError } from '../domain/errors.js';
import { RecipeError } from '../recipe.js';
import { InvalidJobError } from './job-contracts.js';

/**
 * What a worker does with a failed job:
 * - `retry`: fail this attempt; BullMQ retries it with backoff while attempts remain;
 * - `permanent`: fail it for good (BullMQ's `UnrecoverableError`), retrying cannot help;
 * - `later`: not a failure, just not now (another export runs, the active is not
 *   this agent's): put the job back, delayed, without spending an attempt.
 */
export type JobErrorAction = 'retry' | 'permanent' | 'later';

/** Archive failures that retrying the same job cannot cure. */
const PERMANENT_ARCHIVE_CODES = new Set([
  'not-an-archive',
  'wrong-key',
  'no-key',
  'conflicting-keys',
  'bad-key-file',
  'unsupported-version',
  'unknown-snapshot',
  'ambiguous-snapshot',
  'unsafe-path',
  'corrupt',
  'missing-data',
  'bad-wal-name',
]);

/** The one place where errors of every layer are translated into a job's fate. */
export function jobErrorAction(error: unknown): JobErrorAction {
  if (error instanceof InvalidJobError) return 'permanent';
  if (isPipelineError(error)) {
    if (error.code === 'busy' || error.code === 'not-active-here') return 'later';
    return error.permanent ? 'permanent' : 'retry';
  }
  if (error instanceof RecipeError) return error.permanent ? 'permanent' : 'retry';
  if (isArchiveError(error)) return PERMANENT_ARCHIVE_CODES.has(error.code) ? 'permanent' : 'retry';
  return 'retry';
}
