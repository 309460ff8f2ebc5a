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
