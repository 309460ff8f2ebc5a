import { ArchiveError } from '../errors.js';

/**
 * PostgreSQL's WAL file names and positions (see its xlog_internal.h):
 * - a segment is `TTTTTTTTXXXXXXXXYYYYYYYY`, 24 upper-case hex digits: timeline, then
 *   the segment number split into "log" (segment number / segments per 4 GiB) and
 *   "seg" (the remainder);
 * - a timeline history file is `TTTTTTTT.history`;
 * - `.partial` follows a segment that is still being written.
 * An LSN is a 64-bit byte position written `X/Y`, both halves in hex.
 */
export type WalFileName = string;

/** A parsed WAL file name. `name` is without `.partial`. */
export type ParsedWalName =
  | {
      readonly kind: 'segment';
      readonly name: WalFileName;
      readonly timeline: number;
      readonly partial: boolean;
      /** The segment's number within its timeline (`log * segmentsPer4GiB + seg`, needs the size). */
      readonly log: number;
      readonly seg: number;
    }
  | {
      readonly kind: 'history';
      readonly name: WalFileName;
      readonly timeline: number;
      readonly partial: false;
    };

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;
const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const STREAM = /^[A-Za-z0-9][A-Za-z0-9._-]*\.[0-9]+$/;

/** PostgreSQL's limits on `wal_segment_size`: a power of two from 1 MiB to 1 GiB. */
export const MIN_SEGMENT_SIZE = 1024 * 1024;
export const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024;
export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

function badName(message: string, hint?: string): ArchiveError {
  return new ArchiveError('bad-wal-name', message, hint === undefined ? {} : { hint });
}

/** Parses a WAL file name, or returns `undefined` when it is not one. */
export function parseWalName(name: string): ParsedWalName | undefined {
  const history = HISTORY.exec(name);
  if (history) {
    const timeline = Number.parseInt(history[1]!, 16);
    return timeline === 0 ? undefined : { kind: 'history', name, timeline, partial: false };
  }
  const segment = SEGMENT.exec(name);
  if (!segment) return undefined;
  const timeline = Number.parseInt(segment[1]!, 16);
  if (timeline === 0) return undefined;
  return {
    kind: 'segment',
    name: name.slice(0, 24),
    timeline,
    partial: segment[4] !== undefined,
    log: Number.parseInt(segment[2]!, 16),
    seg: Number.parseInt(segment[3]!, 16),
  };
}

/** Parses a WAL file name; a name that is not one is refused with one line. */
export function walName(name: string): ParsedWalName {
  const parsed = parseWalName(name);
  if (parsed === undefined) {
    throw badName(
      `not a wal file name: ${JSON.stringify(name)}`,
      'a segment is 24 upper-case hex digits (timeline 1 or more), optionally with .partial; a history file is 8 hex digits and .history',
    );
  }
  return parsed;
}

export function isWalSegmentName(name: string): boolean {
  return parseWalName(name)?.kind === 'segment';
}

export function isWalHistoryName(name: string): boolean {
  return parseWalName(name)?.kind === 'history';
}

/** The timeline of a WAL file name (segment, partial or history). */
export function timelineOfWalName(name: string): number {
  return walName(name).timeline;
}

/** The name of timeline `timeline`'s history file. */
export function historyFileName(timeline: number): WalFileName {
  return `${hex8(checkTimeline(timeline))}.history`;
}

/** Refuses a segment size PostgreSQL would not run with. */
export function checkSegmentSize(segmentSize: number): number {
  if (
    !Number.isInteger(segmentSize) ||
    segmentSize < MIN_SEGMENT_SIZE ||
    segmentSize > MAX_SEGMENT_SIZE ||
    (segmentSize & (segmentSize - 1)) !== 0
  ) {
    throw badName(`not a wal segment size: ${segmentSize}`, 'a power of two from 1 MiB to 1 GiB');
  }
  return segmentSize;
}

function checkTimeline(timeline: number): number {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffffffff) {
    throw badName(`not a timeline: ${timeline}`);
  }
  return timeline;
}

function segmentsPer4GiB(segmentSize: number): bigint {
  return 0x1_0000_0000n / BigInt(checkSegmentSize(segmentSize));
}

/** The segment's number (its start LSN / segment size). */
export function segmentNumber(name: string, segmentSize: number): bigint {
  const parsed = walName(name);
  if (parsed.kind !== 'segment') throw badName(`not a wal segment name: ${name}`);
  const per = segmentsPer4GiB(segmentSize);
  if (BigInt(parsed.seg) >= per) {
    throw badName(`not a wal segment name for ${segmentSize}-byte segments: ${name}`);
  }
  return BigInt(parsed.log) * per + BigInt(parsed.seg);
}

/** The name of segment number `number` on `timeline`. */
export function segmentName(number: bigint, timeline: number, segmentSize: number): WalFileName {
  const per = segmentsPer4GiB(segmentSize);
  const log = number / per;
  if (number < 0n || log > 0xffffffffn) throw badName(`wal segment number out of range: ${number}`);
  return `${hex8(checkTimeline(timeline))}${hex8(Number(log))}${hex8(Number(number % per))}`;
}

/** The segment holding the byte at `lsn`, on `timeline`. */
export function segmentOfLsn(lsn: string | bigint, timeline: number, segmentSize: number): WalFileName {
  const position = typeof lsn === 'bigint' ? lsn : parseLsn(lsn);
  return segmentName(position / BigInt(checkSegmentSize(segmentSize)), timeline, segmentSize);
}

/** The LSN of a segment's first byte. */
export function lsnOfSegment(name: string, segmentSize: number): string {
  return formatLsn(segmentStart(name, segmentSize));
}

/** The position of a segment's first byte, as a number. */
export function segmentStart(name: string, segmentSize: number): bigint {
  return segmentNumber(name, segmentSize) * BigInt(segmentSize);
}

/** The segment after `name` on the same timeline. */
export function nextSegment(name: string, segmentSize: number): WalFileName {
  return segmentName(segmentNumber(name, segmentSize) + 1n, walName(name).timeline, segmentSize);
}

/** Parses an LSN (`16/B374D848`, either case); refuses anything else with one line. */
export function parseLsn(lsn: string): bigint {
  const match = LSN.exec(lsn);
  if (!match) throw badName(`not an lsn: ${JSON.stringify(lsn)}`, 'an lsn is two hex numbers, as 0/3000028');
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function isLsn(lsn: string): boolean {
  return LSN.test(lsn);
}

/** Formats a position as PostgreSQL does (`%X/%X`). */
export function formatLsn(position: bigint): string {
  if (position < 0n || position > 0xffff_ffff_ffff_ffffn) throw badName(`lsn out of range: ${position}`);
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/** Orders two LSNs: negative, zero or positive, as `a` is before, at or after `b`. */
export function compareLsn(a: string | bigint, b: string | bigint): number {
  const x = typeof a === 'bigint' ? a : parseLsn(a);
  const y = typeof b === 'bigint' ? b : parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The stream of a server lineage: `<component>.<systemIdentifier>`. */
export function walStreamName(component: string, systemIdentifier: string | bigint): string {
  return checkWalStream(`${component}.${systemIdentifier}`);
}

export function isWalStream(stream: string): boolean {
  return STREAM.test(stream) && stream.length <= 255;
}

/** Refuses a stream name that is not `<component>.<systemIdentifier>`, with one line. */
export function checkWalStream(stream: string): string {
  if (!isWalStream(stream)) {
    throw badName(
      `not a wal stream name: ${JSON.stringify(stream)}`,
      'a stream is <component>.<systemIdentifier>: letters, digits, ".", "_" and "-", starting with a letter or digit',
    );
  }
  return stream;
}

/** The component and system identifier of a stream name. */
export function parseWalStream(stream: string): { component: string; systemIdentifier: string } {
  checkWalStream(stream);
  const dot = stream.lastIndexOf('.');
  return { component: stream.slice(0, dot), systemIdentifier: stream.slice(dot + 1) };
}

function hex8(value: number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}
