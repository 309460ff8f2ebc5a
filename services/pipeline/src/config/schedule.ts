import { CronExpressionParser } from 'cron-parser';

/** Exports run hourly unless a component says otherwise (docs/architecture.md, "Config file"). */
export const DEFAULT_SCHEDULE = '0 * * * *';

/**
 * What is wrong with `text` as a component's export schedule, or undefined when it
 * is fine. The schedule goes to a BullMQ job scheduler, which uses cron-parser, so
 * cron-parser decides; but cron-parser quietly fills in missing fields (`* * *`
 * parses), so the field count is checked first: 5 fields, 6 with seconds, or a
 * macro such as `@daily`.
 */
export function checkSchedule(text: string): string | undefined {
  const trimmed = text.trim();
  const fields = trimmed.split(/\s+/).length;
  const isMacro = trimmed.startsWith('@');
  if (!isMacro && fields !== 5 && fields !== 6) {
    return `expected a cron expression with 5 fields (minute hour day month weekday), got ${JSON.stringify(text)}`;
  }
  try {
    CronExpressionParser.parse(trimmed);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `not a valid cron expression ${JSON.stringify(text)}: ${lowerFirst(reason)}`;
  }
  return undefined;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * The longest wait between two of the next `runs` exports of `schedule` from `from`:
 * how old the newest snapshot may grow when every export succeeds (a weekday
 * schedule waits over the weekend), for the alert on a missing snapshot.
 */
export function longestScheduleGapSeconds(schedule: string, from = new Date(), runs = 10): number {
  const times = CronExpressionParser.parse(schedule.trim(), { currentDate: from })
    .take(runs + 1)
    .map((date) => date.getTime());
  let longest = 0;
  for (let index = 1; index < times.length; index++)
    longest = Math.max(longest, times[index]! - times[index - 1]!);
  return longest / 1000;
}
