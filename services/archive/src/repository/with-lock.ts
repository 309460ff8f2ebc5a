import { setMaxListeners } from 'node:events';
import { acquireLock } from '../lock/index.js';
import type { Archive } from './archive.js';

export interface LockingOptions {
  /** How long to wait for a conflicting lock (a prune) to go, in ms. Default: 10 000. */
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs `work` under a shared lock on the archive, so that prune (exclusive) never
 * removes data a backup or restore is using. `work` gets a signal that aborts when the
 * caller aborts or when the lock is lost, so it stops rather than run unprotected.
 */
export async function withSharedLock<T>(
  archive: Archive,
  purpose: string,
  options: LockingOptions,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(archive.backend, {
    kind: 'shared',
    purpose,
    waitMs: options.lockWaitMs ?? 10_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const signal = options.signal ? AbortSignal.any([options.signal, lock.signal]) : lock.signal;
    // Every backend call in flight listens on it; hundreds at once are expected.
    setMaxListeners(0, signal);
    return await work(signal);
  } finally {
    // A lock left behind goes stale on its own; the work's outcome matters more.
    await lock.release().catch(() => {});
  }
}
