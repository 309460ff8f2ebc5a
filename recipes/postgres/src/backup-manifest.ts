import { compareLsn } from './lsn.js';

/** One entry of a backup manifest's `WAL-Ranges`: the WAL a base backup needs. */
export interface WalRange {
  readonly timeline: number;
  readonly startLsn: string;
  readonly endLsn: string;
}

const RANGE =
  /\{\s*"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-Fa-f]+\/[0-9A-Fa-f]+)",\s*"End-LSN":\s*"([0-9A-Fa-f]+\/[0-9A-Fa-f]+)"\s*\}/g;

/**
 * The WAL ranges of a backup_manifest, read from its end (where PostgreSQL writes
 * them, after every file), so the whole manifest never has to be held. Ordered by
 * start LSN; a backup taken across a timeline switch has more than one.
 */
export function walRangesOf(manifestTail: Buffer): WalRange[] {
  const text = manifestTail.toString('utf8');
  const at = text.lastIndexOf('"WAL-Ranges"');
  if (at < 0) return [];
  return [...text.slice(at).matchAll(RANGE)]
    .map((match) => ({ timeline: Number(match[1]), startLsn: match[2]!, endLsn: match[3]! }))
    .sort((a, b) => compareLsn(a.startLsn, b.startLsn));
}
