import type { TimelineSwitch } from './timeline-history.js';
import type { HeaderCache, SegmentObjects } from './wal-header-cache.js';
import { formatLsn, parseLsn, segmentNumber } from './wal-names.js';

/** Consecutive segments of one timeline: WAL from `startLsn` to `endLsn` with no hole. */
export interface WalRun {
  readonly firstSegment: string;
  readonly lastSegment: string;
  readonly segments: number;
  readonly startLsn: string;
  /** The end of its last segment; for a partial, of the bytes it holds. */
  readonly endLsn: string;
}

/**
 * WAL missing from a stream: no restore can pass through `startLsn`..`endLsn` on this
 * timeline. The times are the receive times of the WAL on either side (when known):
 * the moments between them cannot be restored to.
 */
export interface WalGap {
  readonly stream: string;
  readonly timeline: number;
  readonly startLsn: string;
  readonly endLsn: string;
  /** When the last WAL before the gap was received. */
  readonly startTime?: string;
  /** When the first WAL after the gap was received. */
  readonly endTime?: string;
}

export interface WalTimelineChain {
  readonly timeline: number;
  /** Where this timeline branched off its parent, from its history file. */
  readonly parent?: TimelineSwitch;
  readonly hasHistory: boolean;
  readonly runs: WalRun[];
  readonly gaps: WalGap[];
}

/** What `timelineChain` needs to know of one timeline and its neighbours. */
export interface TimelineInput {
  readonly stream: string;
  readonly timeline: number;
  /** Its switch off its parent, from its history file. */
  readonly parent?: TimelineSwitch;
  /** Whether the archive holds segments of the parent: then this timeline must start at the switch. */
  readonly parentHeld: boolean;
  readonly hasHistory: boolean;
  readonly segments?: ReadonlyMap<string, SegmentObjects>;
  readonly segmentSize: number;
  /** The latest switch of a child timeline off this one: WAL is needed up to it only. */
  readonly switchOut?: bigint;
  readonly headers: HeaderCache;
}

/**
 * One timeline's runs and gaps (see `walChain`): it is needed from its switch point
 * (or its first segment when the archive lacks its parent) to the segment before its
 * latest child's switch (or its last segment).
 */
export async function timelineChain(input: TimelineInput): Promise<WalTimelineChain> {
  const { stream, timeline, parent, parentHeld, segments, segmentSize, switchOut, headers } = input;
  const chain: WalTimelineChain = {
    timeline,
    ...(parent ? { parent } : {}),
    hasHistory: input.hasHistory,
    runs: [],
    gaps: [],
  };
  if (!segments) return chain;
  const numbered = [...segments.entries()]
    .map(([name, entry]) => ({ name, entry, number: segmentNumber(name, segmentSize) }))
    .sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
  const first = numbered[0]!;
  const last = numbered[numbered.length - 1]!;
  const size = BigInt(segmentSize);
  // Where the timeline must start: its switch point, when the archive holds its parent.
  const switchIn = parentHeld && parent ? parseLsn(parent.switchLsn) : undefined;
  let from = switchIn === undefined ? first.number : switchIn / size;
  if (first.number < from) from = first.number;
  const to = switchOut === undefined ? last.number : switchOut / size - 1n;

  const gap = async (startLsn: bigint, endLsn: bigint, before?: string, after?: string) => {
    if (startLsn >= endLsn) return;
    const startTime =
      before === undefined ? undefined : (await headers.read(before, numberedEntry(before)))?.lastReceivedAt;
    const endTime =
      after === undefined ? undefined : (await headers.read(after, numberedEntry(after)))?.firstReceivedAt;
    chain.gaps.push({
      stream,
      timeline,
      startLsn: formatLsn(startLsn),
      endLsn: formatLsn(endLsn),
      ...(startTime === undefined ? {} : { startTime }),
      ...(endTime === undefined ? {} : { endTime }),
    });
  };
  const numberedEntry = (name: string) => segments.get(name)!;

  const needed = numbered.filter((s) => s.number >= from && s.number <= to);
  if (needed.length === 0) {
    if (from <= to) await gap(switchIn ?? from * size, (to + 1n) * size);
    return chain;
  }
  if (needed[0]!.number > from) {
    const start = switchIn ?? from * size;
    await gap(start, needed[0]!.number * size, undefined, needed[0]!.name);
  }
  let run: { first: (typeof needed)[0]; last: (typeof needed)[0]; count: number } | undefined;
  const closeRun = (end: bigint) => {
    if (!run) return;
    chain.runs.push({
      firstSegment: run.first.name,
      lastSegment: run.last.name,
      segments: run.count,
      startLsn: formatLsn(run.first.number * size),
      endLsn: formatLsn(end),
    });
    run = undefined;
  };
  for (const [index, segment] of needed.entries()) {
    if (run && segment.number !== run.last.number + 1n) {
      closeRun((run.last.number + 1n) * size);
      await gap(
        (needed[index - 1]!.number + 1n) * size,
        segment.number * size,
        needed[index - 1]!.name,
        segment.name,
      );
    }
    if (run) {
      run.last = segment;
      run.count++;
    } else run = { first: segment, last: segment, count: 1 };
    const isLast = index === needed.length - 1;
    if (segment.entry.complete === undefined && (!isLast || switchOut !== undefined)) {
      // A partial inside the chain: the WAL after its received bytes is missing.
      const header = await headers.read(segment.name, segment.entry);
      const held = segment.number * size + BigInt(header?.contentBytes ?? 0);
      // One that received its whole segment leaves nothing missing: the run goes on.
      if (held < (segment.number + 1n) * size) {
        closeRun(held);
        const next = needed[index + 1];
        await gap(held, (next ? next.number : to + 1n) * size, segment.name, next?.name);
      }
    }
  }
  // Still open: the last needed segment holds all its WAL (else a gap followed it).
  const reachedLast = run !== undefined;
  if (run) {
    const lastRun = run as NonNullable<typeof run>;
    const header = lastRun.last.entry.complete
      ? undefined
      : await headers.read(lastRun.last.name, lastRun.last.entry);
    closeRun(lastRun.last.number * size + (header ? BigInt(header.contentBytes) : size));
  }
  const lastNeeded = needed[needed.length - 1]!;
  if (reachedLast && lastNeeded.number < to) {
    await gap((lastNeeded.number + 1n) * size, (to + 1n) * size, lastNeeded.name);
  }
  return chain;
}
