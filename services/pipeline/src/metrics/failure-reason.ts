/**
 * The `reason` label of a failed job: the error's code (a `PipelineError`'s, an
 * `ArchiveError`'s, a `RecipeError`'s or a system error's, e.g. `corrupt-artifact`,
 * `missing-data`, `ECONNREFUSED`), else `error`. Codes are few; messages would make a
 * series per failure.
 */
export function failureReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CODE.test(code) ? code : 'error';
}

const CODE = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
