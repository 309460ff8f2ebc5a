import { isLsn, parseLsn } from '@pullback/archive';

/** A fallback as the election sees it when choosing the next active. */
export interface Fallback {
  readonly name: string;
  /** 0 = never chosen; higher wins a tie on position. */
  readonly priority: number;
  readonly healthy: boolean;
  /** Why it is not healthy (one line), when it is not. */
  readonly reason?: string;
  /** The WAL it has received and replayed, up to this LSN (`FallbackState.lsn`). */
  readonly lsn?: string;
}

export interface ChooseOptions {
  /** The end of the WAL the archive holds, when known: lag is measured against it. */
  readonly archiveLsn?: string;
  /** A fallback behind the archive by more bytes than this is not chosen unless `force`. */
  readonly maxLagBytes: number;
  /** Chooses fallbacks too far behind (or whose position is unknown) as well. */
  readonly force?: boolean;
}

/** A fallback left out, and why (one line, for `status`). */
export interface Exclusion {
  readonly name: string;
  readonly reason: string;
}

export interface Choice {
  /** The fallback to activate, if any may be. */
  readonly chosen: Fallback | undefined;
  /** Every eligible fallback, best first. */
  readonly ranked: readonly Fallback[];
  readonly excluded: readonly Exclusion[];
}

/**
 * Chooses the next active among `fallbacks` (docs/election.md "Failure detection"):
 * healthy ones with priority above 0, not behind the archive by more than
 * `maxLagBytes` unless forced; the newest received-and-replayed position wins, then
 * the highest priority, then the name.
 */
export function chooseCandidate(fallbacks: readonly Fallback[], options: ChooseOptions): Choice {
  const excluded: Exclusion[] = [];
  const eligible: Fallback[] = [];
  for (const fallback of fallbacks) {
    const reason = exclusionReason(fallback, options);
    if (reason === undefined) eligible.push(fallback);
    else excluded.push({ name: fallback.name, reason });
  }
  const ranked = eligible.sort(byPreference);
  return { chosen: ranked[0], ranked, excluded };
}

function exclusionReason(fallback: Fallback, options: ChooseOptions): string | undefined {
  const { name } = fallback;
  if (!fallback.healthy) return `${name} is not healthy${fallback.reason ? `: ${fallback.reason}` : ''}`;
  if (fallback.priority <= 0) return `${name} has priority 0 (never chosen)`;
  if (options.force || options.archiveLsn === undefined) return undefined;
  const position = positionOf(fallback);
  if (position === undefined) return `${name} has reported no replayed position`;
  const behind = parseLsn(options.archiveLsn) - position;
  if (behind > BigInt(options.maxLagBytes)) {
    return `${name} is behind the archive by ${behind} bytes (more than maxLagBytes ${options.maxLagBytes})`;
  }
  return undefined;
}

/** Newest position first (unknown last), then highest priority, then name. */
function byPreference(a: Fallback, b: Fallback): number {
  const x = positionOf(a) ?? -1n;
  const y = positionOf(b) ?? -1n;
  if (x !== y) return x > y ? -1 : 1;
  if (a.priority !== b.priority) return b.priority - a.priority;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function positionOf(fallback: Fallback): bigint | undefined {
  return fallback.lsn !== undefined && isLsn(fallback.lsn) ? parseLsn(fallback.lsn) : undefined;
}
