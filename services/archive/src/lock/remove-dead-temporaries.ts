import { type Backend, removeTemporaries, thisHostForTemporaries } from '@pullback/storage';
import { DEFAULT_CLOCK_SKEW_MS, isProcessAlive } from './staleness.js';

/**
 * Removes the temporaries (staged writes of the fs driver) that no live process owns:
 * a process killed while it saved leaves one behind, and nothing else ever would.
 * For a caller that holds the exclusive lock, taken at `lockTakenAt` (ms): then no
 * other command holds a lock, so a temporary is garbage when its owner, on this host,
 * is gone, or when it is older than the lock (less the clock skew allowed between
 * hosts, since another host's owner cannot be asked). A live process's temporaries,
 * such as those of a backup waiting for the lock, are never touched.
 */
export async function removeDeadTemporaries(
  backend: Backend,
  lockTakenAt: number,
): Promise<{ files: number; bytes: number }> {
  const host = thisHostForTemporaries();
  return removeTemporaries(backend, ({ owner, modified }) => {
    if (owner?.hostname === host) return owner.pid !== process.pid && !isProcessAlive(owner.pid);
    return modified.getTime() < lockTakenAt - DEFAULT_CLOCK_SKEW_MS;
  });
}
