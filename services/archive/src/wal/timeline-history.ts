import { isLsn } from './wal-names.js';

/** One line of a timeline history file: timeline `timeline` ended at `switchLsn`. */
export interface TimelineSwitch {
  readonly timeline: number;
  readonly switchLsn: string;
}

/**
 * The switches a history file lists, oldest first (PostgreSQL's timeline.c: lines of
 * `<parent TLI>\t<switch LSN>\t<reason>`, `#` comments and blank lines ignored). The
 * last one is the timeline's direct parent and where the timeline begins. Lines that
 * do not parse are skipped, as PostgreSQL only warns of them.
 */
export function parseTimelineHistory(content: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const line of content.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [timeline, switchLsn] = trimmed.split(/\s+/);
    if (timeline === undefined || switchLsn === undefined || !/^[0-9]+$/.test(timeline) || !isLsn(switchLsn))
      continue;
    switches.push({ timeline: Number(timeline), switchLsn: switchLsn.toUpperCase() });
  }
  return switches;
}
