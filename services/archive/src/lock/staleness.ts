import { hostname as osHostname } from 'node:os';
import type { LockRecord } from './lock-record.js';

/**
 * Why a lock no longer counts: its lease ran out without a renewal (`expired`), or
 * its holder ran on this host and that process is gone (`dead-process`).
 */
export type StaleReason = 'expired' | 'dead-process';

export interface StalenessOptions {
  /**
   * How far another host's clock may be ahead of ours: a lease counts as expired only
   * this long after `renewedAt + leaseMs`. It is also the time a holder that lost its
   * lease has to stop before someone else may take the archive. Default: 15 000 (15 s).
   */
  readonly clockSkewMs?: number;
}

export const DEFAULT_CLOCK_SKEW_MS = 15_000;

/** This machine's name as lock objects record it. */
export function thisHost(): string {
  return osHostname();
}

/** Why `record` is stale at `now`, or undefined when it is live. */
export function staleReason(
  record: LockRecord,
  now: number,
  options: StalenessOptions = {},
): StaleReason | undefined {
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (record.renewedAt.getTime() + record.leaseMs + skew < now) return 'expired';
  // Only a process on this host can be asked whether it lives; elsewhere the lease
  // is all there is. (Containers that share a host name but not a pid namespace would
  // fool this; give them distinct host names.)
  if (record.hostname === thisHost() && !isProcessAlive(record.pid)) return 'dead-process';
  return undefined;
}

/** Whether a process with this pid exists on this host. */
export function isProcessAlive(pid: number): boolean {
  try {
    // Signal 0 checks existence and permission without signalling anything.
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
