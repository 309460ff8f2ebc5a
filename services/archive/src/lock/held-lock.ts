import { type Backend, isNotFound } from '@pullback/storage';
import { LockLostError } from './lock-errors.js';
import { encodeLock, type LockKind, type LockRecord, lockName } from './lock-record.js';

/** A lock this process holds. It renews itself until it is released. */
export interface HeldLock {
  /** The random id; the object is `locks/<id>`. */
  readonly id: string;
  readonly kind: LockKind;
  /**
   * Aborted, with a `LockLostError` as its reason, when the lock can no longer be
   * trusted: renewal has failed for a whole lease, or another process removed the
   * object as stale. Pass it to everything done under the lock so that the work stops
   * rather than run unprotected. Never aborted by `release`.
   */
  readonly signal: AbortSignal;
  /**
   * Stops renewal and removes the lock object. Safe to call more than once and after
   * the lock was lost. If the removal fails, the promise rejects and the object
   * remains until it goes stale (at once for this host once the process exits, else
   * when its lease runs out); callers may ignore that.
   */
  release(): Promise<void>;
}

/**
 * Keeps a written lock object alive: every third of the lease it checks that the
 * object is still there and rewrites it with a new `renewedAt`. Timers are unref'd:
 * a held lock never keeps the process alive by itself.
 */
export class RenewedLock implements HeldLock {
  readonly signal: AbortSignal;
  private readonly lost = new AbortController();
  // Cancels a renewal in flight when the lock is released or lost.
  private readonly stopped = new AbortController();
  private readonly name: string;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private renewal: Promise<void> | undefined;
  private releasing: Promise<void> | undefined;
  private lastError: unknown;

  constructor(
    private readonly backend: Backend,
    readonly id: string,
    private record: LockRecord,
  ) {
    this.name = lockName(id);
    this.signal = this.lost.signal;
    this.armExpiry();
    this.scheduleRenewal(this.interval);
  }

  get kind(): LockKind {
    return this.record.kind;
  }

  release(): Promise<void> {
    this.releasing ??= this.stopAndRemove();
    return this.releasing;
  }

  private get interval(): number {
    return Math.max(1, Math.floor(this.record.leaseMs / 3));
  }

  private async stopAndRemove(): Promise<void> {
    this.stop();
    // A renewal that finished after the removal would write the object back.
    await this.renewal;
    await this.backend.remove(this.name);
  }

  private stop(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
    this.stopped.abort();
  }

  private lose(message: string): void {
    if (this.stopped.signal.aborted) return;
    this.stop();
    this.lost.abort(new LockLostError(message, { cause: this.lastError }));
  }

  /** Declares the lock lost when a whole lease passes without a successful renewal. */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const left = this.record.renewedAt.getTime() + this.record.leaseMs - Date.now();
    this.expiryTimer = setTimeout(
      () => {
        const reason = this.lastError === undefined ? '' : `: ${errorMessage(this.lastError)}`;
        this.lose(`lost the ${this.kind} lock ${this.name}: it was not renewed within its lease${reason}`);
      },
      Math.max(0, left),
    );
    this.expiryTimer.unref();
  }

  private scheduleRenewal(delay: number): void {
    if (this.stopped.signal.aborted) return;
    this.renewTimer = setTimeout(() => {
      this.renewal = this.renew().finally(() => {
        this.renewal = undefined;
      });
    }, delay);
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    const signal = this.stopped.signal;
    const renewedAt = new Date();
    try {
      // Someone who found the lock stale has removed it and may hold the archive now;
      // writing it back would hide that.
      await this.backend.stat(this.name, { signal });
    } catch (error) {
      if (signal.aborted) return;
      if (isNotFound(error)) {
        this.lose(`lost the ${this.kind} lock ${this.name}: another process removed it as stale`);
        return;
      }
      this.lastError = error;
      this.scheduleRenewal(this.retryDelay);
      return;
    }
    const record = { ...this.record, renewedAt };
    try {
      await this.backend.save(this.name, encodeLock(record), { signal });
    } catch (error) {
      if (signal.aborted) return;
      this.lastError = error;
      this.scheduleRenewal(this.retryDelay);
      return;
    }
    if (signal.aborted) return;
    // The lease now runs from before the write began, as the object says.
    this.record = record;
    this.lastError = undefined;
    this.armExpiry();
    this.scheduleRenewal(this.interval);
  }

  // After a failure, try again sooner, to get more attempts into the lease.
  private get retryDelay(): number {
    return Math.max(1, Math.floor(this.interval / 3));
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
