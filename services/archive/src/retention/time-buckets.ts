/**
 * The calendar periods retention counts, each as a function from a time to a key that
 * is equal for two times exactly when they fall in the same period. All periods are in
 * UTC, so the result never depends on the time zone of the machine that runs `forget`
 * and no period is ever 23 or 25 hours long.
 */
export type BucketKey = (time: Date) => string;

export const hourKey: BucketKey = (time) => time.toISOString().slice(0, 13);

export const dayKey: BucketKey = (time) => time.toISOString().slice(0, 10);

/**
 * The ISO 8601 week, Monday to Sunday, e.g. `2021-W53`. Its year is the ISO week-year
 * (the year of the week's Thursday), so 1 January 2021, a Friday, is in `2020-W53`.
 */
export const isoWeekKey: BucketKey = (time) => {
  const { year, week } = isoWeek(time);
  return `${year}-W${String(week).padStart(2, '0')}`;
};

export const monthKey: BucketKey = (time) => time.toISOString().slice(0, 7);

export const yearKey: BucketKey = (time) => String(time.getUTCFullYear());

const DAY_MS = 86_400_000;

/** The ISO week-year and week number (1-53) of `time`, in UTC. */
export function isoWeek(time: Date): { year: number; week: number } {
  const midnight = Math.floor(time.getTime() / DAY_MS) * DAY_MS;
  // Monday = 0 ... Sunday = 6.
  const weekday = (new Date(midnight).getUTCDay() + 6) % 7;
  // A week belongs to the year that holds its Thursday, and week 1 is the week whose
  // Thursday falls on 1-7 January, so the Thursday's day of the year gives the week.
  const thursday = new Date(midnight + (3 - weekday) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const newYear = new Date(0);
  newYear.setUTCFullYear(year, 0, 1);
  const dayOfYear = Math.round((thursday.getTime() - newYear.getTime()) / DAY_MS);
  return { year, week: Math.floor(dayOfYear / 7) + 1 };
}
