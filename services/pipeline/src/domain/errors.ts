/**
 * What the pipeline's steps fail with, named once; workers translate codes into
 * BullMQ's retry decisions in one place (`jobErrorFor`). Messages are one lowercase
 * line naming the object.
 *
 * - `stale-epoch`: the job's epoch is not the component's (permanent).
 * - `unknown-component`: not in the registry or the config (permanent).
 * - `incomplete-artifact`: no COMPLETE for the export in the outbox (permanent).
 * - `corrupt-artifact`: an object differs from COMPLETE, or its tar is unsafe (permanent).
 * - `outbox-mismatch`: a pull job names another outbox than its component's (permanent).
 * - `busy`: another export of the component, or restore of the fallback, holds its lock (try later, not a failure).
 * - `invalid-snapshot`: a snapshot's tags say what no writer of them says (permanent).
 * - `not-a-fallback`: an import for an instance that is not a fallback (any more) (permanent).
 * - `not-active-here`: the component's active is not this agent's (hand the job on).
 * - `lock-lost`: the lock expired under running work (retried).
 * - `stale-parent`: an incremental artifact's parent is not the archive's newest physical snapshot of its component (permanent: export in full).
 * - `unsupported-kind`: an export of a kind the component's recipe does not make (permanent).
 */
export type PipelineErrorCode =
  | 'stale-epoch'
  | 'unknown-component'
  | 'incomplete-artifact'
  | 'corrupt-artifact'
  | 'outbox-mismatch'
  | 'invalid-snapshot'
  | 'busy'
  | 'not-a-fallback'
  | 'not-active-here'
  | 'lock-lost'
  | 'stale-parent'
  | 'unsupported-kind'
  | 'tablespace-location';

const PERMANENT: ReadonlySet<PipelineErrorCode> = new Set([
  'stale-epoch',
  'unknown-component',
  'incomplete-artifact',
  'corrupt-artifact',
  'outbox-mismatch',
  'invalid-snapshot',
  'not-a-fallback',
  'stale-parent',
  'unsupported-kind',
  'tablespace-location',
]);

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  readonly code: PipelineErrorCode;
  readonly hint: string | undefined;
  /** Retrying the same job cannot help. */
  readonly permanent: boolean;

  constructor(code: PipelineErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.permanent = PERMANENT.has(code);
  }
}

export function isPipelineError(error: unknown, code?: PipelineErrorCode): error is PipelineError {
  return error instanceof PipelineError && (code === undefined || error.code === code);
}

/** The message of anything thrown, on one line. */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
