import { parseLsn, parseTimelineHistory } from '@pullback/archive';

/*
 * A timeline's ancestry, from its history file: replay along timeline T reads each
 * ancestor's WAL up to its switch point, then T's.
 */

/** One timeline of a path: the WAL positions it covers, [begin, end). */
export interface TimelineStep {
  readonly timeline: number;
  readonly begin: bigint;
  /** Undefined for the newest timeline of the path. */
  readonly end?: bigint;
}

/** The path of `timeline` from its history file's text (none for timeline 1). */
export function timelinePath(timeline: number, historyText: string | undefined): TimelineStep[] {
  const steps: TimelineStep[] = [];
  let begin = 0n;
  for (const ancestor of parseTimelineHistory(historyText ?? '')) {
    const end = parseLsn(ancestor.switchLsn);
    steps.push({ timeline: ancestor.timeline, begin, end });
    begin = end;
  }
  steps.push({ timeline, begin });
  return steps;
}

/** Whether a path passes through `timeline` at `position` (a base backup's end, say). */
export function pathHolds(path: readonly TimelineStep[], timeline: number, position: bigint): boolean {
  return path.some(
    (step) =>
      step.timeline === timeline && step.begin <= position && (step.end === undefined || position < step.end),
  );
}
