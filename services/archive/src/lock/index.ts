export { type AcquireLockOptions, acquireLock } from './acquire-lock.js';
export type { HeldLock } from './held-lock.js';
export {
  type ListedLock,
  type ListLocksOptions,
  listLocks,
  removeAllLocks,
  removeStaleLocks,
} from './list-locks.js';
export { type ConflictingLock, LockedError, LockLostError } from './lock-errors.js';
export { LOCKS_PREFIX, type LockKind, type LockRecord } from './lock-record.js';
export { isProcessAlive, type StalenessOptions, type StaleReason, staleReason } from './staleness.js';
