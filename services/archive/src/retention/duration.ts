import { RetentionPolicyError } from './policy-error.js';

/**
 * A span of calendar time, written like restic's `--keep-within`: whole numbers with a
 * unit, largest unit first: `12h`, `7d`, `2w`, `6m`, `1y`, `1y6m`, `3d12h`. `m` is a
 * month (there is no minute unit: retention works in hours and up). Months and years
 * stay calendar units rather than 30 or 365 days, so "keep one month" reaches back to
 * the same date of the previous month. The config file's `keepWithin` and the command
 * line's `--keep-within` are read by `parseDuration` below, so they cannot drift apart.
 */
export interface Duration {
  readonly years: number;
  readonly months: number;
  /** Weeks are folded in as 7 days each. */
  readonly days: number;
  readonly hours: number;
}

const DURATION = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/;

const HOUR_MS = 3_600_000;

/** The grammar in words, for help texts and config errors. */
export const DURATION_HELP = 'a duration like "7d", "2w", "36h" or "1y6m" (units: y, m = months, w, d, h)';

/**
 * The duration `text` stands for. Throws a `RetentionPolicyError` naming `option`
 * when it is not one.
 */
export function parseDuration(text: string, option = 'keep-within'): Duration {
  const match = DURATION.exec(text);
  if (match === null || text === '') {
    throw new RetentionPolicyError(
      option,
      `${JSON.stringify(text)} is not a duration; use e.g. 12h, 7d, 4w, 6m, 1y`,
    );
  }
  const part = (index: number): number => Number(match[index] ?? 0);
  const duration = { years: part(1), months: part(2), days: part(3) * 7 + part(4), hours: part(5) };
  // Beyond this, date arithmetic leaves the range a Date can hold.
  if (Object.values(duration).some((value) => !Number.isSafeInteger(value) || value > 1_000_000)) {
    throw new RetentionPolicyError(option, `${JSON.stringify(text)} is too long a duration`);
  }
  return duration;
}

/** True for a duration of no time at all (`0d`), which keeps nothing by itself. */
export function isZeroDuration(duration: Duration): boolean {
  return duration.years === 0 && duration.months === 0 && duration.days === 0 && duration.hours === 0;
}

/**
 * `time` moved back by `duration`, in UTC: years and months first, clamped to the end
 * of a shorter month (31 March less a month is 29 or 28 February, not 3 March as
 * plain `Date` overflow would give), then days and hours. UTC days are always 24
 * hours long, so no daylight-saving shift creeps in.
 */
export function subtractDuration(time: Date, duration: Duration): Date {
  const totalMonths = time.getUTCFullYear() * 12 + time.getUTCMonth() - duration.years * 12 - duration.months;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const day = Math.min(time.getUTCDate(), daysInMonth(year, month));
  const shifted = new Date(time.getTime());
  shifted.setUTCFullYear(year, month, day);
  return new Date(shifted.getTime() - (duration.days * 24 + duration.hours) * HOUR_MS);
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one. (setUTCFullYear rather than
  // Date.UTC, which reads years 0-99 as 1900-1999.)
  const last = new Date(0);
  last.setUTCFullYear(year, month + 1, 0);
  return last.getUTCDate();
}
