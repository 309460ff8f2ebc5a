import { CorruptDataError, isArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { fetchWalFile } from './archive-wal.js';
import { listWal, type WalObjectInfo } from './list-wal.js';
import { timelineChain, type WalGap, type WalTimelineChain } from './timeline-chain.js';
import { parseTimelineHistory, type TimelineSwitch } from './timeline-history.js';
import { HeaderCache, type SegmentObjects } from './wal-header-cache.js';
import { formatLsn, parseLsn, segmentNumber } from './wal-names.js';
import type { WalHeader } from './wal-object.js';

export type { WalGap, WalRun, WalTimelineChain } from './timeline-chain.js';

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
    timelines.push(
      await timelineChain({
        stream,
        timeline,
        ...(parent ? { parent } : {}),
        parentHeld: parent !== undefined && byTimeline.has(parent.timeline),
        hasHistory: histories.some((h) => h.timeline === timeline),
        ...(byTimeline.has(timeline) ? { segments: byTimeline.get(timeline)! } : {}),
        segmentSize,
        ...(childSwitch.has(timeline) ? { switchOut: childSwitch.get(timeline)! } : {}),
        headers,
      }),
    );
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
