import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from '@pullback/storage';
import { type HeldLock, RenewedLock } from './held-lock.js';
import { listLocks } from './list-locks.js';
import { type ConflictingLock, LockedError } from './lock-errors.js';
import { encodeLock, type LockKind, lockName, newLockId } from './lock-record.js';
import { DEFAULT_CLOCK_SKEW_MS, type StalenessOptions, thisHost } from './staleness.js';

export interface AcquireLockOptions extends StalenessOptions {
  /** `shared` for backup, restore and verify; `exclusive` for prune. */
  readonly kind: LockKind;
  /** What the lock is for, shown to whoever it blocks: `backup`, `prune` ... */
  readonly purpose: string;
  /**
   * How long the lock stays live without renewal, so how long a holder that vanished
   * without a trace (a host that died) blocks the archive, plus `clockSkewMs`. It is
   * renewed every third of this. Default: 60 000 (1 min).
   */
  readonly leaseMs?: number;
  /**
   * How long to keep trying while the archive is locked, in ms; 0 tries once. Two
   * conflicting acquirers that start at the same moment may both back off, so give
   * a few seconds whenever waiting is acceptable. Default: 0.
   */
  readonly waitMs?: number;
  /** The first pause between attempts, doubled each time up to `maxRetryDelayMs`. Default: 100. */
  readonly retryDelayMs?: number;
  /** The longest pause between attempts. Default: 5 000. */
  readonly maxRetryDelayMs?: number;
  /** Gives up acquiring (removing anything written) when aborted. */
  readonly signal?: AbortSignal;
}

const DEFAULT_LEASE_MS = 60_000;

/**
 * Takes a lock on the archive, after restic's lock protocol with leases, and without
 * conditional writes (which not every S3 server honours): write our own lock object,
 * then list and read the others. If a live one conflicts (exclusive against anything),
 * remove ours and fail with a `LockedError`, or, within `waitMs`, pause with jitter
 * and try again. Two acquirers can both back off, but never both succeed: whichever
 * listed second saw the other's object, since each wrote before it listed. Stale locks
 * met on the way are removed.
 *
 * The lock then renews itself until `release`; see `HeldLock.signal` for a lost lock.
 */
export async function acquireLock(backend: Backend, options: AcquireLockOptions): Promise<HeldLock> {
  const { kind, purpose, signal } = options;
  const leaseMs = positive('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS);
  const waitMs = atLeastZero('waitMs', options.waitMs ?? 0);
  const firstDelay = positive('retryDelayMs', options.retryDelayMs ?? 100);
  const maxDelay = Math.max(firstDelay, positive('maxRetryDelayMs', options.maxRetryDelayMs ?? 5_000));
  const clockSkewMs = atLeastZero('clockSkewMs', options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS);
  const started = Date.now();

  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    const id = newLockId();
    const name = lockName(id);
    const now = new Date();
    const record = {
      kind,
      purpose,
      hostname: thisHost(),
      pid: process.pid,
      createdAt: now,
      renewedAt: now,
      leaseMs,
    };
    let conflicts: ConflictingLock[];
    try {
      // Not cut short by the signal: an S3 PUT aborted client-side may still land after
      // the removal below, leaving a lock behind; a small write is let finish instead.
      await backend.save(name, encodeLock(record));
      signal?.throwIfAborted();
      conflicts = await findConflicts(backend, id, kind, clockSkewMs, signal);
    } catch (error) {
      await removeQuietly(backend, name);
      throw error;
    }
    if (conflicts.length === 0) return new RenewedLock(backend, id, record);

    // Out of the way at once, so that whoever we conflict with can proceed.
    await backend.remove(name);
    const waited = Date.now() - started;
    if (waited >= waitMs) {
      throw new LockedError(kind, conflicts, waitMs > 0 ? waited : 0, Date.now(), clockSkewMs);
    }
    // Equal jitter: at least half the backoff, so waits grow, and a random rest, so
    // acquirers that collided do not collide again in step.
    const backoff = Math.min(maxDelay, firstDelay * 2 ** Math.min(attempt, 30));
    const pause = backoff / 2 + Math.random() * (backoff / 2);
    await pauseFor(Math.min(pause, waitMs - waited), signal);
  }
}

/** The locks that keep a `kind` lock from being held alongside them; removes stale ones. */
async function findConflicts(
  backend: Backend,
  ownId: string,
  kind: LockKind,
  clockSkewMs: number,
  signal: AbortSignal | undefined,
): Promise<ConflictingLock[]> {
  const conflicts: ConflictingLock[] = [];
  const stale: Promise<void>[] = [];
  for (const lock of await listLocks(backend, { clockSkewMs, signal })) {
    if (lock.id === ownId) continue;
    if (lock.state === 'stale') {
      // Best effort: another acquirer may be removing it too, and it is ignored anyway.
      stale.push(removeQuietly(backend, lockName(lock.id)));
    } else if (lock.state === 'invalid' || kind === 'exclusive' || lock.record.kind === 'exclusive') {
      conflicts.push(lock);
    }
  }
  await Promise.all(stale);
  return conflicts;
}

/** Sleeps; when aborted, rejects with the signal's own reason, as `throwIfAborted` would. */
async function pauseFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}

async function removeQuietly(backend: Backend, name: string): Promise<void> {
  try {
    await backend.remove(name);
  } catch {
    // It goes stale by itself; the error that brought us here matters more.
  }
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${option} must be a positive number of ms`);
  return value;
}

function atLeastZero(option: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${option} must be 0 or more ms`);
  return value;
}
