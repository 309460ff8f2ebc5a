import { CorruptDataError, isArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { fetchWalFile, readWalHeader } from './archive-wal.js';
import { listWal, type WalObjectInfo } from './list-wal.js';
import { parseTimelineHistory, type TimelineSwitch } from './timeline-history.js';
import { formatLsn, parseLsn, segmentNumber } from './wal-names.js';
import type { WalHeader } from './wal-object.js';

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

/** A position at an end of the archived WAL. */
export interface WalPosition {
  readonly timeline: number;
  readonly segment: string;
  readonly lsn: string;
  readonly partial: boolean;
  /** The start: when its first byte was received; the end: when its last was. */
  readonly receivedAt: string;
}

/**
 * A stream's archived WAL as restores see it: per timeline, the runs of segments and
 * the gaps between them; where the archived WAL starts and ends.
 */
export interface WalChain {
  readonly stream: string;
  /** Undefined when the stream holds no segment. */
  readonly segmentSize?: number;
  readonly timelines: WalTimelineChain[];
  /** Every timeline's gaps, in timeline and LSN order. */
  readonly gaps: WalGap[];
  readonly start?: WalPosition;
  readonly end?: WalPosition;
}

interface SegmentObjects {
  complete?: WalObjectInfo;
  partial?: WalObjectInfo;
}

/**
 * The chain of a stream, from the backend's list, its history files and the headers
 * of the segments at its ends and beside each gap (no segment body is read).
 *
 * A timeline switch is not a gap: timeline N begins in the segment of its switch
 * point (PostgreSQL copies the WAL before the switch into timeline N's first segment),
 * so its parent is needed up to the segment before that one, and the parent's
 * segments past the switch are not needed. A timeline whose parent the archive does
 * not hold starts at its first segment.
 */
export async function walChain(
  archive: Archive,
  stream: string,
  options: { signal?: AbortSignal } = {},
): Promise<WalChain> {
  const objects = await listWal(archive, stream, options);
  const byTimeline = new Map<number, Map<string, SegmentObjects>>();
  const histories: WalObjectInfo[] = [];
  for (const info of objects) {
    if (info.history) {
      histories.push(info);
      continue;
    }
    const segments = byTimeline.get(info.timeline) ?? new Map<string, SegmentObjects>();
    byTimeline.set(info.timeline, segments);
    const entry = segments.get(info.name) ?? {};
    if (info.partial) entry.partial = info;
    else entry.complete = info;
    segments.set(info.name, entry);
  }
  const parents = new Map<number, TimelineSwitch>();
  for (const history of histories) {
    const parent = await readParent(archive, stream, history.name, options.signal);
    if (parent) parents.set(history.timeline, parent);
  }
  const timelineNumbers = [...new Set([...byTimeline.keys(), ...histories.map((h) => h.timeline)])].sort(
    (a, b) => a - b,
  );
  const withSegments = timelineNumbers.filter((t) => byTimeline.has(t));
  const lastTimeline = withSegments[withSegments.length - 1];
  if (lastTimeline === undefined) {
    const timelines = timelineNumbers.map((timeline) => ({
      timeline,
      ...(parents.has(timeline) ? { parent: parents.get(timeline)! } : {}),
      hasHistory: true,
      runs: [],
      gaps: [],
    }));
    return { stream, timelines, gaps: [] };
  }

  const headers = new HeaderCache(archive, stream, options.signal);
  // The end: the newest segment whose header opens (verify reports one that does not).
  // Its segment size is the stream's.
  let found: { timeline: number; name: string; header: WalHeader } | undefined;
  for (const timeline of [...withSegments].reverse()) {
    const segments = byTimeline.get(timeline)!;
    for (const name of [...segments.keys()].sort().reverse()) {
      const header = await headers.read(name, segments.get(name)!);
      if (header !== undefined) {
        found = { timeline, name, header };
        break;
      }
    }
    if (found) break;
  }
  if (found === undefined) {
    throw new CorruptDataError(`no wal segment header of stream ${stream} opens`);
  }
  const { timeline: endTimeline, name: endName, header: endHeader } = found;
  const segmentSize = endHeader.segmentSize;

  // The latest switch out of each timeline the archive continues on.
  const childSwitch = new Map<number, bigint>();
  for (const [timeline, parent] of parents) {
    if (!timelineNumbers.includes(timeline)) continue;
    const at = parseLsn(parent.switchLsn);
    const known = childSwitch.get(parent.timeline);
    if (known === undefined || at > known) childSwitch.set(parent.timeline, at);
  }

  const timelines: WalTimelineChain[] = [];
  for (const timeline of timelineNumbers) {
    const parent = parents.get(timeline);
    const segments = byTimeline.get(timeline);
    const chain: WalTimelineChain = {
      timeline,
      ...(parent ? { parent } : {}),
      hasHistory: histories.some((h) => h.timeline === timeline),
      runs: [],
      gaps: [],
    };
    timelines.push(chain);
    if (!segments) continue;
    const numbered = [...segments.entries()]
      .map(([name, entry]) => ({ name, entry, number: segmentNumber(name, segmentSize) }))
      .sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
    const first = numbered[0]!;
    const last = numbered[numbered.length - 1]!;
    const size = BigInt(segmentSize);
    const parentHeld = parent !== undefined && byTimeline.has(parent.timeline);
    let from = parentHeld ? parseLsn(parent.switchLsn) / size : first.number;
    if (first.number < from) from = first.number;
    const switchOut = childSwitch.get(timeline);
    const to = switchOut === undefined ? last.number : switchOut / size - 1n;

    const gap = async (startLsn: bigint, endLsn: bigint, before?: string, after?: string) => {
      if (startLsn >= endLsn) return;
      const startTime =
        before === undefined
          ? undefined
          : (await headers.read(before, numberedEntry(before)))?.lastReceivedAt;
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
      if (from <= to) await gap(parent ? parseLsn(parent.switchLsn) : from * size, (to + 1n) * size);
      continue;
    }
    if (needed[0]!.number > from) {
      const start = parentHeld ? parseLsn(parent!.switchLsn) : from * size;
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
    if (run) {
      const lastRun = run as NonNullable<typeof run>;
      const header = lastRun.last.entry.complete
        ? undefined
        : await headers.read(lastRun.last.name, lastRun.last.entry);
      closeRun(lastRun.last.number * size + (header ? BigInt(header.contentBytes) : size));
    }
    const lastNeeded = needed[needed.length - 1]!;
    if (lastNeeded.number < to && lastNeeded.entry.complete !== undefined) {
      await gap((lastNeeded.number + 1n) * size, (to + 1n) * size, lastNeeded.name);
    }
  }

  const firstTimeline = withSegments[0]!;
  const firstName = [...byTimeline.get(firstTimeline)!.keys()].sort()[0]!;
  const startHeader = await headers.read(firstName, byTimeline.get(firstTimeline)!.get(firstName)!);
  const endNumber = segmentNumber(endName, segmentSize);
  return {
    stream,
    segmentSize,
    timelines,
    gaps: timelines.flatMap((t) => t.gaps),
    start: {
      timeline: firstTimeline,
      segment: firstName,
      lsn: formatLsn(segmentNumber(firstName, segmentSize) * BigInt(segmentSize)),
      partial: byTimeline.get(firstTimeline)!.get(firstName)!.complete === undefined,
      receivedAt: startHeader?.firstReceivedAt ?? endHeader.firstReceivedAt,
    },
    end: {
      timeline: endTimeline,
      segment: endName,
      lsn: formatLsn(endNumber * BigInt(segmentSize) + BigInt(endHeader.contentBytes)),
      partial: endHeader.partial,
      receivedAt: endHeader.lastReceivedAt,
    },
  };
}

/** A timeline's direct parent from its history file; undefined when it does not open (verify reports it). */
async function readParent(
  archive: Archive,
  stream: string,
  name: string,
  signal: AbortSignal | undefined,
): Promise<TimelineSwitch | undefined> {
  try {
    const file = await fetchWalFile(archive, stream, name, signal ? { signal } : {});
    if (!file) return undefined;
    const switches = parseTimelineHistory(file.content.toString('utf8'));
    return switches[switches.length - 1];
  } catch (error) {
    if (isArchiveError(error, 'corrupt')) return undefined;
    throw error;
  }
}

/** Headers read at most once each; one that does not open counts as unknown (verify reports it). */
class HeaderCache {
  private readonly cache = new Map<string, WalHeader | undefined>();

  constructor(
    private readonly archive: Archive,
    private readonly stream: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The complete segment's header, else the partial's. */
  async read(name: string, entry: SegmentObjects): Promise<WalHeader | undefined> {
    const partial = entry.complete === undefined;
    const key = `${name}${partial ? '.partial' : ''}`;
    if (this.cache.has(key)) return this.cache.get(key);
    let header: WalHeader | undefined;
    try {
      header = await readWalHeader(this.archive, this.stream, name, {
        partial,
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (error) {
      if (!isArchiveError(error, 'corrupt')) throw error;
    }
    this.cache.set(key, header);
    return header;
  }
}
