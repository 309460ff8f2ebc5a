import {
  type Archive,
  fetchWalFile,
  formatLsn,
  historyFileName,
  listWal,
  readWalHeader,
  segmentName,
  segmentNumber,
  type WalHeader,
  type WalObjectInfo,
} from '@pullback/archive';
import { type TimelineStep, timelinePath } from './timeline-path.js';

/** A segment the archive holds: complete, or only its partial (the one being written). */
export interface HeldSegment {
  readonly name: string;
  readonly timeline: number;
  readonly number: bigint;
  readonly partial: boolean;
}

/** Where a run of WAL ends: the position after its last byte, and when that byte was received. */
export interface WalPoint {
  readonly lsn: string;
  readonly position: bigint;
  readonly time: string;
}

/**
 * What the archive holds of one WAL stream, along its newest timeline's path: which
 * segments there are (from the listing, no body read) and, read on demand with one
 * range read each, their headers' receive times.
 */
export class ArchivedWal {
  private readonly headers = new Map<string, Promise<WalHeader | undefined>>();

  private constructor(
    private readonly archive: Archive,
    readonly stream: string,
    readonly segmentSize: number,
    readonly path: readonly TimelineStep[],
    readonly histories: readonly string[],
    private readonly held: ReadonlyMap<string, HeldSegment>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The stream's WAL, or undefined when the archive holds none of it. */
  static async load(
    archive: Archive,
    stream: string,
    signal?: AbortSignal,
  ): Promise<ArchivedWal | undefined> {
    const options = signal === undefined ? {} : { signal };
    const objects = await listWal(archive, stream, options);
    const segments = objects.filter((object) => !object.history);
    const first = segments[0];
    if (first === undefined) return undefined;
    const header = await readWalHeader(archive, stream, first.name, { partial: first.partial, ...options });
    if (header === undefined) return undefined;
    const segmentSize = header.segmentSize;
    // A reduce, not Math.max(...): a stream can hold more segments than a call has arguments.
    const newest = objects.reduce((max, object) => Math.max(max, object.timeline), 1);
    const histories = objects.filter((object) => object.history).map((object) => object.name);
    const historyText = histories.includes(historyFileName(newest))
      ? (await fetchWalFile(archive, stream, historyFileName(newest), options))?.content.toString('utf8')
      : undefined;
    const held = new Map<string, HeldSegment>();
    for (const object of segments)
      held.set(keyOf(object.timeline, numberOf(object, segmentSize)), heldOf(object, segmentSize, held));
    return new ArchivedWal(
      archive,
      stream,
      segmentSize,
      timelinePath(newest, historyText),
      histories,
      held,
      signal,
    );
  }

  /** The newest timeline: the one restores recover along. */
  get timeline(): number {
    return this.path.at(-1)!.timeline;
  }

  /** The segment number holding `position`. */
  segmentOf(position: bigint): bigint {
    return position / BigInt(this.segmentSize);
  }

  /**
   * The file replay reads for segment `number`: the newest timeline of the path that
   * began at or before it, else an older one whose WAL reaches into it (a switch segment).
   */
  segment(number: bigint): HeldSegment | undefined {
    const size = BigInt(this.segmentSize);
    for (const step of [...this.path].reverse()) {
      if (step.begin / size > number) continue;
      if (step.end !== undefined && (step.end - 1n) / size < number) continue;
      const found = this.held.get(keyOf(step.timeline, number));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** The last segment of the unbroken run of segments from `number` on (a partial ends a run). */
  runEnd(number: bigint): HeldSegment | undefined {
    let last: HeldSegment | undefined;
    for (let n = number; ; n++) {
      const found = this.segment(n);
      if (found === undefined) return last;
      last = found;
      if (found.partial) return last;
    }
  }

  /** The numbers of the first and last segment held on the path. */
  bounds(): { first: bigint; last: bigint } | undefined {
    const numbers = [...this.held.values()]
      .filter((segment) => this.segment(segment.number) === segment)
      .map((segment) => segment.number);
    if (numbers.length === 0) return undefined;
    return {
      first: numbers.reduce((a, b) => (a < b ? a : b)),
      last: numbers.reduce((a, b) => (a > b ? a : b)),
    };
  }

  /** The stretches of segments missing between the first and the last held on the path, oldest first. */
  gaps(): { after: HeldSegment; before: HeldSegment }[] {
    const held = [...this.held.values()]
      .filter((segment) => this.segment(segment.number) === segment)
      .sort((a, b) => (a.number < b.number ? -1 : 1));
    const gaps: { after: HeldSegment; before: HeldSegment }[] = [];
    for (let i = 1; i < held.length; i++) {
      const [after, before] = [held[i - 1]!, held[i]!];
      if (before.number > after.number + 1n || after.partial) gaps.push({ after, before });
    }
    return gaps;
  }

  /** A held segment's header (receive times, bytes held), read once. */
  header(segment: HeldSegment): Promise<WalHeader | undefined> {
    const key = `${segment.name}${segment.partial ? '.partial' : ''}`;
    let header = this.headers.get(key);
    if (header === undefined) {
      header = readWalHeader(this.archive, this.stream, segment.name, {
        partial: segment.partial,
        ...(this.signal === undefined ? {} : { signal: this.signal }),
      });
      this.headers.set(key, header);
    }
    return header;
  }

  /** Where a run ending at `segment` ends: its last byte held and when it arrived. */
  async endOf(segment: HeldSegment): Promise<WalPoint> {
    const header = await this.header(segment);
    const start = segment.number * BigInt(this.segmentSize);
    const position = start + BigInt(segment.partial ? (header?.contentBytes ?? 0) : this.segmentSize);
    return { lsn: formatLsn(position), position, time: header?.lastReceivedAt ?? '' };
  }

  /** Where segment `segment` begins, and when its first byte arrived. */
  async startOf(segment: HeldSegment): Promise<WalPoint> {
    const header = await this.header(segment);
    const position = segment.number * BigInt(this.segmentSize);
    return { lsn: formatLsn(position), position, time: header?.firstReceivedAt ?? '' };
  }
}

function keyOf(timeline: number, number: bigint): string {
  return `${timeline}:${number}`;
}

function numberOf(object: WalObjectInfo, segmentSize: number): bigint {
  return segmentNumber(object.name, segmentSize);
}

/** A complete segment wins over its partial (both may be listed for a moment). */
function heldOf(object: WalObjectInfo, segmentSize: number, held: Map<string, HeldSegment>): HeldSegment {
  const number = numberOf(object, segmentSize);
  const before = held.get(keyOf(object.timeline, number));
  if (before !== undefined && !before.partial) return before;
  return {
    name: segmentName(number, object.timeline, segmentSize),
    timeline: object.timeline,
    number,
    partial: object.partial,
  };
}
