/*
 * WAL file names as PostgreSQL writes them: a segment is `TTTTTTTTXXXXXXXXYYYYYYYY`
 * (timeline, then the segment number split in two at 4 GiB of WAL), a history file
 * `TTTTTTTT.history`.
 */

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY = /^[0-9A-F]{8}\.history$/;

export function isSegmentName(name: string): boolean {
  return SEGMENT.test(name);
}

export function isHistoryName(name: string): boolean {
  return HISTORY.test(name);
}

/** A segment's timeline and its place in the WAL (comparable across timelines). */
export interface SegmentPlace {
  readonly timeline: number;
  /** The segment number (segment size independent as long as one size is used). */
  readonly number: bigint;
}

export function segmentPlace(name: string, segmentSize: number): SegmentPlace {
  const match = SEGMENT.exec(name);
  if (match === null) throw new Error(`not a WAL segment name: ${JSON.stringify(name)}`);
  const perId = 0x1_0000_0000n / BigInt(segmentSize);
  return {
    timeline: Number.parseInt(match[1]!, 16),
    number: BigInt(`0x${match[2]}`) * perId + BigInt(`0x${match[3]}`),
  };
}

export function segmentName(place: SegmentPlace, segmentSize: number): string {
  const perId = 0x1_0000_0000n / BigInt(segmentSize);
  const hex = (value: bigint | number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(place.timeline)}${hex(place.number / perId)}${hex(place.number % perId)}`;
}

/** The segment `count` after `name`, on the same timeline. */
export function segmentAfter(name: string, count: number, segmentSize: number): string {
  const place = segmentPlace(name, segmentSize);
  return segmentName({ timeline: place.timeline, number: place.number + BigInt(count) }, segmentSize);
}

/** The segment holding byte `lsn` (`16/B374D848`) of timeline `timeline`. */
export function segmentOfLsn(lsn: string, timeline: number, segmentSize: number): string {
  return segmentName({ timeline, number: lsnBytes(lsn) / BigInt(segmentSize) }, segmentSize);
}

/** An LSN as a number of bytes. */
export function lsnBytes(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (match === null) throw new Error(`invalid lsn ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}
