import type { ListedLock } from './list-locks.js';
import { LOCKS_PREFIX, type LockKind, type LockRecord } from './lock-record.js';
import { DEFAULT_CLOCK_SKEW_MS } from './staleness.js';

/** A lock object that stood in the way: a live lock of a conflicting kind, or one we cannot read. */
export type ConflictingLock = Extract<ListedLock, { state: 'live' | 'invalid' }>;

/**
 * The archive is locked in a way that conflicts with the lock asked for (and stayed so
 * for as long as the caller was willing to wait). The message is one line naming the
 * holder, then `; HINT: ` and what to do; `summary` and `hint` hold the two parts for
 * callers that print hints their own way.
 */
export class LockedError extends Error {
  override readonly name = 'LockedError';
  readonly code = 'locked';
  /** The message without its hint. */
  readonly summary: string;
  readonly hint: string;
  constructor(
    /** The kind of lock that was asked for. */
    readonly wanted: LockKind,
    /** What stood in the way at the last attempt; never empty. */
    readonly conflicts: readonly ConflictingLock[],
    /** How long the caller waited, 0 when it did not. */
    readonly waitedMs: number,
    now = Date.now(),
    clockSkewMs = DEFAULT_CLOCK_SKEW_MS,
  ) {
    const { summary, hint } = describeConflicts(conflicts, waitedMs, now, clockSkewMs);
    super(`${summary}; HINT: ${hint}`);
    this.summary = summary;
    this.hint = hint;
  }
}

/**
 * A held lock can no longer be trusted: it could not be renewed within its lease, or
 * its object was removed by another process that took it for stale. The operation
 * under the lock must stop; this is the reason of the lock's abort signal.
 */
export class LockLostError extends Error {
  override readonly name = 'LockLostError';
}

function describeConflicts(
  conflicts: readonly ConflictingLock[],
  waitedMs: number,
  now: number,
  clockSkewMs: number,
): { summary: string; hint: string } {
  // An unreadable object first: no amount of waiting makes it go away.
  const invalid = conflicts.find((lock) => lock.state === 'invalid');
  if (invalid !== undefined) {
    return {
      summary: `archive has a lock object ${LOCKS_PREFIX}${invalid.id} that is not a lock (${invalid.problem})`,
      hint: 'if no pullback process is using the archive, delete that object from it',
    };
  }
  const live = conflicts.flatMap((lock) => (lock.state === 'live' ? [lock.record] : []));
  // Name an exclusive holder when there is one: it is the one that matters to anybody.
  const holder = live.find((record) => record.kind === 'exclusive') ?? live[0]!;
  const others = live.length - 1;
  const waited = waitedMs > 0 ? `, still after waiting ${formatSpan(waitedMs)}` : '';
  const expires = new Date(holder.renewedAt.getTime() + holder.leaseMs + clockSkewMs);
  return {
    summary:
      `archive is locked${holder.kind === 'exclusive' ? ' exclusively' : ''} by ${describeHolder(holder, now)}` +
      `${others > 0 ? ` (and ${others} more lock${others > 1 ? 's' : ''})` : ''}${waited}`,
    hint: `wait for it to finish; if that process is gone, its lock expires at ${expires.toISOString()}`,
  };
}

function describeHolder(record: LockRecord, now: number): string {
  const purpose = record.purpose === '' ? 'a process' : record.purpose;
  const age = formatSpan(Math.max(0, now - record.createdAt.getTime()));
  return `${purpose} on host ${record.hostname} (pid ${record.pid}) since ${record.createdAt.toISOString()} (${age} ago)`;
}

/** A span for people: `850ms`, `42s`, `5m 3s`, `2h 5m`, `3d 4h`. */
export function formatSpan(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return join(minutes, 'm', seconds % 60, 's');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return join(hours, 'h', minutes % 60, 'm');
  return join(Math.floor(hours / 24), 'd', hours % 24, 'h');
}

function join(major: number, majorUnit: string, minor: number, minorUnit: string): string {
  return minor === 0 ? `${major}${majorUnit}` : `${major}${majorUnit} ${minor}${minorUnit}`;
}
