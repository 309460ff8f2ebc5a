import { lsnToBigInt } from '../lsn.js';

/**
 * The names of the WAL segments a backup needs to reach consistency: from the one
 * holding its start LSN to the one holding the last byte before its stop LSN (as
 * basebackup.c counts them), on `timeline`.
 */
export function walSegmentsBetween(
  startLsn: string,
  stopLsn: string,
  timeline: number,
  segmentSize: number,
): string[] {
  const size = BigInt(segmentSize);
  const perId = 0x100000000n / size;
  const first = lsnToBigInt(startLsn) / size;
  const last = (lsnToBigInt(stopLsn) - 1n) / size;
  const hex = (value: bigint | number) => value.toString(16).toUpperCase().padStart(8, '0');
  const names: string[] = [];
  for (let segment = first; segment <= last; segment++) {
    names.push(`${hex(timeline)}${hex(segment / perId)}${hex(segment % perId)}`);
  }
  return names;
}

/** The `START TIMELINE` a backup_label names. */
export function labelTimeline(backupLabel: string): number {
  const match = /^START TIMELINE: (\d+)$/m.exec(backupLabel);
  if (match === null) throw new Error('the backup_label from pg_backup_stop names no START TIMELINE');
  return Number(match[1]);
}
