import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from '@pullback/storage';
import { listLocks } from './list-locks.js';
import { type ConflictingLock, LockedError } from './lock-errors.js';
import { DEFAULT_CLOCK_SKEW_MS } from './staleness.js';

export interface AwaitNoExclusiveOptions {
  /** How long to wait for a live exclusive lock to go, in ms. */
  readonly waitMs: number;
  readonly signal?: AbortSignal;
}

/**
 * For a reader the archive does not let write a lock object (read-only rights,
 * docs/rights.md): returns once no live exclusive lock (prune, repair) and no invalid
 * lock object is listed, checking again every second; a `LockedError` after `waitMs`.
 * Stale locks are left where they are: a reader cannot remove them.
 */
export async function awaitNoExclusiveLock(
  backend: Backend,
  options: AwaitNoExclusiveOptions,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    options.signal?.throwIfAborted();
    const conflicts = (await listLocks(backend, { signal: options.signal })).filter(
      (lock): lock is ConflictingLock =>
        lock.state === 'invalid' || (lock.state === 'live' && lock.record.kind === 'exclusive'),
    );
    if (conflicts.length === 0) return;
    const waited = Date.now() - started;
    if (waited >= options.waitMs) {
      throw new LockedError('shared', conflicts, waited, Date.now(), DEFAULT_CLOCK_SKEW_MS);
    }
    await sleep(Math.min(1000, options.waitMs - waited), undefined, { signal: options.signal });
  }
}
