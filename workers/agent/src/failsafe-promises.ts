import { performance } from 'node:perf_hooks';
import type { EpochProposal, EpochRecordStore } from './epoch-record.js';

/** A monotonic clock in milliseconds (wall-clock jumps must not stretch or cut a promise). */
export type MonotonicClock = () => number;

export type FailsafeGrant =
  | { readonly granted: true; readonly instance: string; readonly epoch: number; readonly forMs: number }
  | { readonly granted: false; readonly reason: string };

interface LivePromise {
  readonly instance: string;
  readonly epoch: number;
  readonly until: number;
}

/**
 * The failsafe promises this agent granted (docs/election.md "The safety rule"): to an
 * active that cannot reach Redis, "I will record no newer epoch for `failsafeMs`". While
 * one is live the record refuses newer epochs, so no election can activate this
 * instance (or record another active here) behind the back of an active still running.
 *
 * Promises live in this process only: the agent that grants them is the one that
 * records epochs for its instance.
 */
export class FailsafePromises {
  private readonly live: LivePromise[] = [];

  constructor(
    private readonly store: EpochRecordStore,
    private readonly failsafeMs: number,
    private readonly clock: MonotonicClock = () => performance.now(),
  ) {}

  /**
   * Grants `instance` at `epoch` a promise unless the record is newer (or the same epoch
   * with another active: the asker is not the active then). Read under the record's lock,
   * so no compare-and-set slips between the check and the promise.
   */
  grant(instance: string, epoch: number): Promise<FailsafeGrant> {
    return this.store.exclusive(async () => {
      const record = await this.store.read();
      if (record !== undefined && record.epoch > epoch) {
        return { granted: false, reason: `the recorded epoch ${record.epoch} is newer than ${epoch}` };
      }
      if (record !== undefined && record.epoch === epoch && record.active !== instance) {
        return {
          granted: false,
          reason: `epoch ${epoch} is recorded with ${record.active} active, not ${instance}`,
        };
      }
      this.prune();
      this.live.push({ instance, epoch, until: this.clock() + this.failsafeMs });
      return { granted: true, instance, epoch, forMs: this.failsafeMs };
    });
  }

  /** How long (ms) the last live promise still holds; 0 when none does. */
  liveForMs(): number {
    this.prune();
    const now = this.clock();
    return this.live.reduce((longest, promise) => Math.max(longest, promise.until - now), 0);
  }

  /**
   * Why `proposal` may not be recorded now, or undefined: a live promise blocks any epoch
   * newer than the one promised (and the same epoch naming another active). The veto
   * for EpochRecordStore.compareAndSet.
   */
  readonly veto = (proposal: EpochProposal): string | undefined => {
    const blocking = this.blocking(proposal);
    if (blocking.length === 0) return undefined;
    const forMs = this.blockingMs(proposal);
    const holders = [...new Set(blocking.map((promise) => `${promise.instance} at epoch ${promise.epoch}`))];
    const until = new Date(Date.now() + forMs).toISOString();
    return `a failsafe promise to ${holders.join(', ')} is live until ${until} (${Math.ceil(forMs)} ms more)`;
  };

  /** How long (ms) live promises still block `proposal`; 0 when none does. */
  blockingMs(proposal: EpochProposal): number {
    const now = this.clock();
    return this.blocking(proposal).reduce((longest, promise) => Math.max(longest, promise.until - now), 0);
  }

  private blocking(proposal: EpochProposal): LivePromise[] {
    this.prune();
    return this.live.filter(
      (promise) =>
        proposal.epoch > promise.epoch ||
        (proposal.epoch === promise.epoch && proposal.active !== promise.instance),
    );
  }

  private prune(): void {
    const now = this.clock();
    for (let index = this.live.length - 1; index >= 0; index--) {
      if ((this.live[index]?.until ?? 0) <= now) this.live.splice(index, 1);
    }
  }
}
