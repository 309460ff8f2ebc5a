/*
 * A timeline's ancestry, from its history file (PostgreSQL's timeline.c): one line per
 * ancestor, `<parent TLI>\t<switch LSN>\t<reason>`, oldest first. Replay along
 * timeline T reads each ancestor's WAL up to its switch point, then T's.
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
  for (const line of (historyText ?? '').split('\n')) {
    const match = /^\s*(\d+)\s+([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)/.exec(line);
    if (match === null) continue;
    const end = (BigInt(`0x${match[2]}`) << 32n) | BigInt(`0x${match[3]}`);
    steps.push({ timeline: Number(match[1]), begin, end });
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
