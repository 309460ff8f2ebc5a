import { parseLsn } from '@pullback/archive';
import type { RecoveryTarget } from '@pullback/pipeline';
import type { ArchivedWal, HeldSegment, WalPoint } from './archived-wal.js';
import { pathHolds } from './timeline-path.js';

/** A physical snapshot as a base for replay: where it becomes consistent. */
export interface PhysicalBase {
  readonly id: string;
  /** The snapshot's time: after the backup ended, so consistent by then. */
  readonly time: string;
  readonly systemIdentifier: string;
  readonly timeline: number;
  readonly startLsn: string;
  /** The end of the backup: replay is consistent from here. */
  readonly endLsn: string;
}

/** What one base can be restored to: from its consistent point to the end of the unbroken WAL after it. */
export interface Reach {
  readonly base: PhysicalBase;
  readonly wal: ArchivedWal;
  readonly from: { readonly time: string; readonly lsn: string; readonly position: bigint };
  readonly to: WalPoint;
  /** The last segment of that unbroken run. */
  readonly last: HeldSegment;
}

/** The reach of `base` in `wal`, or undefined when the archive lacks the WAL right after it. */
export async function reachOf(base: PhysicalBase, wal: ArchivedWal): Promise<Reach | undefined> {
  const end = parseLsn(base.endLsn);
  if (!pathHolds(wal.path, base.timeline, end)) return undefined;
  const last = wal.runEnd(wal.segmentOf(end));
  if (last === undefined) return undefined;
  const from = { time: base.time, lsn: base.endLsn, position: end };
  const to = await wal.endOf(last);
  return { base, wal, from, to: to.position < end ? { ...from } : to, last };
}

/**
 * The base to replay from for `target`: the newest whose reach holds it. A name or an
 * xid has no position known before replay, so it gets the oldest base whose WAL runs
 * to the archive's end: any restore point or transaction after it is then found.
 */
export function chooseReach(target: RecoveryTarget, reaches: readonly Reach[]): Reach | undefined {
  const newestFirst = [...reaches].sort((a, b) => (a.from.position < b.from.position ? 1 : -1));
  if (target.kind === 'time') {
    const at = Date.parse(target.time);
    return newestFirst.find((reach) => Date.parse(reach.from.time) <= at && at <= Date.parse(reach.to.time));
  }
  if (target.kind === 'lsn') {
    const at = parseLsn(target.lsn);
    return newestFirst.find((reach) => reach.from.position <= at && at <= reach.to.position);
  }
  const end = newestFirst.reduce((max, reach) => (reach.to.position > max ? reach.to.position : max), 0n);
  return newestFirst.filter((reach) => reach.to.position === end).at(-1);
}

/**
 * Why `target` is out of reach: before the oldest snapshot, past the end of the
 * archive's WAL (`end`, its newest byte), or in between: in a gap.
 */
export function whyUnreachable(
  target: RecoveryTarget,
  reaches: readonly Reach[],
  end: WalPoint | undefined,
): string {
  if (end === undefined) return 'the archive holds no WAL of it';
  if (target.kind === 'name' || target.kind === 'xid' || reaches.length === 0) {
    return 'no snapshot has the WAL after it in the archive';
  }
  const before =
    target.kind === 'time'
      ? reaches.every((reach) => Date.parse(target.time) < Date.parse(reach.from.time))
      : reaches.every((reach) => parseLsn(target.lsn) < reach.from.position);
  if (before) return 'it is before the oldest snapshot';
  const after =
    target.kind === 'time'
      ? Date.parse(target.time) > Date.parse(end.time)
      : parseLsn(target.lsn) > end.position;
  if (after) return "it is past the archive's end";
  return "it is inside a gap in the archive's WAL";
}

/** The ranges the reaches cover together, oldest first, overlapping ones merged. */
export function reachableRanges(reaches: readonly Reach[]): { from: Reach['from']; to: WalPoint }[] {
  const sorted = [...reaches].sort((a, b) => (a.from.position < b.from.position ? -1 : 1));
  const ranges: { from: Reach['from']; to: WalPoint }[] = [];
  for (const reach of sorted) {
    const last = ranges.at(-1);
    if (last !== undefined && reach.from.position <= last.to.position) {
      if (reach.to.position > last.to.position) last.to = reach.to;
    } else {
      ranges.push({ from: reach.from, to: reach.to });
    }
  }
  return ranges;
}

/** `2026-12-06 02:40:11Z (0/3000028) to ...`, the ranges in one line. */
export function describeRanges(reaches: readonly Reach[]): string {
  const ranges = reachableRanges(reaches);
  if (ranges.length === 0) return 'nothing';
  return ranges
    .map(
      (range) => `${clock(range.from.time)} (${range.from.lsn}) to ${clock(range.to.time)} (${range.to.lsn})`,
    )
    .join(', and ');
}

/** An ISO time the way the CLI prints times: `2026-12-06 02:40:11Z` (milliseconds kept when there are some). */
export function clock(time: string): string {
  return time.replace('T', ' ').replace(/\.000Z$/, 'Z');
}

/** How a target reads in messages. */
export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case 'time':
      return `time ${clock(target.time)}`;
    case 'lsn':
      return `lsn ${target.lsn}`;
    case 'name':
      return `restore point ${target.name}`;
    case 'xid':
      return `transaction ${target.xid}`;
  }
}

/** Slack on the receive times: a commit is stored a moment after it is made. */
const RECEIVE_SLACK_MS = 10_000;

/**
 * The segments replay needs from the archive, from the base's start up to the target's
 * segment: for a time, up to the first segment received well after it; for an LSN, the
 * one after its segment (the record that ends recovery may start there); for a name or
 * an xid, to the end of the run.
 */
export async function segmentsToPlace(reach: Reach, target: RecoveryTarget): Promise<HeldSegment[]> {
  const { wal } = reach;
  const first = wal.segmentOf(parseLsn(reach.base.startLsn));
  let last = reach.last.number;
  if (target.kind === 'lsn') {
    const after = wal.segmentOf(parseLsn(target.lsn)) + 1n;
    if (after < last) last = after;
  } else if (target.kind === 'time') {
    last = await firstReceivedAfter(reach, Date.parse(target.time) + RECEIVE_SLACK_MS);
  }
  const segments: HeldSegment[] = [];
  for (let n = first; n <= last; n++) {
    const segment = wal.segment(n);
    // Before the base's end, the base's own pg_wal holds what the archive may not.
    if (segment !== undefined) segments.push(segment);
  }
  return segments;
}

/** Binary search over the run: the first segment whose first byte arrived after `at`, else the run's last. */
async function firstReceivedAfter(reach: Reach, at: number): Promise<bigint> {
  let low = reach.wal.segmentOf(reach.from.position);
  let high = reach.last.number;
  while (low < high) {
    const middle = (low + high) / 2n;
    const segment = reach.wal.segment(middle)!;
    const started = Date.parse((await reach.wal.startOf(segment)).time);
    if (started > at) high = middle;
    else low = middle + 1n;
  }
  return high;
}
