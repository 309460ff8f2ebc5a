/**
 * Retention's `keepWithin` span, written like restic's `--keep-within`: whole
 * numbers with a unit, largest unit first, e.g. `7d`, `2w`, `1y6m`, `36h`.
 * Months and years are kept as calendar units (not 30 or 365 days) so that
 * "keep one year" means the same calendar date a year ago.
 */
export interface Duration {
  readonly years: number;
  readonly months: number;
  /** Weeks are folded in as 7 days each. */
  readonly days: number;
  readonly hours: number;
}

const DURATION = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/;

export const DURATION_HELP = 'a duration like "7d", "2w", "36h" or "1y6m" (units: y, m = months, w, d, h)';

/** The duration `text` stands for, or undefined when it is not one. */
export function parseDuration(text: string): Duration | undefined {
  const match = DURATION.exec(text);
  if (match === null || text === '') return undefined;
  const part = (index: number): number => Number(match[index] ?? 0);
  return { years: part(1), months: part(2), days: part(3) * 7 + part(4), hours: part(5) };
}
