import { setMaxListeners } from 'node:events';
import { isAccessDenied } from '@pullback/storage';
import { awaitNoExclusiveLock } from '../lock/await-no-exclusive.js';
import { acquireLock, type HeldLock, type LockKind } from '../lock/index.js';
import { removeDeadTemporaries } from '../lock/remove-dead-temporaries.js';
import type { Archive } from './archive.js';

export interface LockingOptions {
  /** How long to wait for a conflicting lock to go, in ms. Default: 10 000 for a shared lock, 60 000 for the exclusive one. */
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs `work` under a shared lock on the archive, so that prune (exclusive) never
 * removes data a backup or restore is using. `work` gets a signal that aborts when the
 * caller aborts or when the lock is lost, so it stops rather than run unprotected.
 */
export function withSharedLock<T>(
  archive: Archive,
  purpose: string,
  options: LockingOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withLock('shared', 10_000, archive, purpose, options, work);
}

/**
 * Runs `work`, which only reads (restore, verify), under a shared lock; or, when the
 * archive refuses the lock object's write for lack of rights (an import role given
 * read access only, docs/rights.md), under none, once no live exclusive lock is listed
 * (docs/repository-format.md §10). A prune that starts meanwhile may remove a pack the
 * work needs: it then fails on the missing object, never reads wrong data.
 */
export function withReadLock<T>(
  archive: Archive,
  purpose: string,
  options: LockingOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withLock('shared', 10_000, archive, purpose, options, work, true);
}

export interface ExclusiveLockOptions extends LockingOptions {
  /** Leave the temporaries of killed processes where they are (a dry run). Default: false. */
  readonly keepTemporaries?: boolean;
}

/** Temporaries of killed processes removed on taking the exclusive lock. */
export interface RemovedTemporaries {
  readonly files: number;
  readonly bytes: number;
}

/**
 * Runs `work` under the exclusive lock (prune, repair): no backup or restore runs
 * meanwhile. First it clears what killed processes left (see `removeDeadTemporaries`:
 * a temporary older than the moment the lock was asked for belongs to no live writer),
 * since only the exclusive lock's holder may; `work` is told what went.
 */
export function withExclusiveLock<T>(
  archive: Archive,
  purpose: string,
  options: ExclusiveLockOptions,
  work: (signal: AbortSignal, temporaries: RemovedTemporaries) => Promise<T>,
): Promise<T> {
  return withLock('exclusive', 60_000, archive, purpose, options, async (signal, lockTakenAt) => {
    const temporaries = options.keepTemporaries
      ? { files: 0, bytes: 0 }
      : await removeDeadTemporaries(archive.backend, lockTakenAt);
    return work(signal, temporaries);
  });
}

async function withLock<T>(
  kind: LockKind,
  defaultWaitMs: number,
  archive: Archive,
  purpose: string,
  options: LockingOptions,
  work: (signal: AbortSignal, lockTakenAt: number) => Promise<T>,
  readOnly = false,
): Promise<T> {
  const lockTakenAt = Date.now();
  const waitMs = options.lockWaitMs ?? defaultWaitMs;
  let lock: HeldLock;
  try {
    lock = await acquireLock(archive.backend, {
      kind,
      purpose,
      waitMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (!readOnly || !isAccessDenied(error)) throw error;
    await awaitNoExclusiveLock(archive.backend, {
      waitMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return work(options.signal ?? new AbortController().signal, lockTakenAt);
  }
  try {
    const signal = options.signal ? AbortSignal.any([options.signal, lock.signal]) : lock.signal;
    // Every backend call in flight listens on it; hundreds at once are expected.
    setMaxListeners(0, signal);
    return await work(signal, lockTakenAt);
  } finally {
    // A lock left behind goes stale on its own; the work's outcome matters more.
    await lock.release().catch(() => {});
  }
}
