import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ElectionTimings, type Permission, PermissionClock } from '@pullback/election';
import { type ActiveLeaseOutcome, activeLeaseValue, type Registry } from '@pullback/pipeline';
import type { EpochProposal, EpochRecordStore } from './epoch-record.js';
import { askFailsafe, type FallbackAgent } from './failsafe-asker.js';
import type { MonotonicClock } from './failsafe-promises.js';

export type KeeperTimings = Pick<
  ElectionTimings,
  'renewMs' | 'activeLeaseMs' | 'failsafeMs' | 'clockMarginMs'
>;

export interface PermissionKeeperOptions {
  readonly component: string;
  readonly instance: string;
  /** The instance's initial role in the config: with no record yet, an `active` takes the registry's word. */
  readonly configRole: 'active' | 'fallback';
  /** A registry whose commands fail at once while Redis is away (no offline queue). */
  readonly registry: Registry;
  readonly record: EpochRecordStore;
  /** Every other instance of the component (none of them may be elected meanwhile). */
  readonly fallbacks: readonly string[];
  /** The fallbacks' agents, asked for failsafe promises while Redis does not answer. */
  readonly fallbackAgents: readonly FallbackAgent[];
  readonly agentToken: string;
  readonly timings: KeeperTimings;
  /** Makes the server refuse writes and stops it (recipes/postgres demoteServer). */
  readonly demote: (reason: string) => Promise<void>;
  /** What may forbid recording an epoch (the failsafe promises this agent granted). */
  readonly veto?: (proposal: EpochProposal) => string | undefined;
  readonly clock?: MonotonicClock;
  readonly log?: (line: string) => void;
}

/** The keeper's hold on one epoch at which the record names this instance active. */
interface Term {
  readonly epoch: number;
  readonly clock: PermissionClock;
  readonly startedAt: number;
  held: boolean;
  /** Redis refused a renewal (the epoch moved on, another holds the lease). */
  refused: boolean;
  /** Permission ended and the server was demoted: never the active again at this epoch. */
  ended: boolean;
}

/** Redis gave no answer in time (down, or too slow to count on). */
const NO_ANSWER: unique symbol = Symbol('no answer');

/**
 * Keeps the active's permission to take writes (docs/election.md "The safety rule"):
 * while the instance's epoch record names it active, it takes and renews
 * `active-lease.<component>` every `renewMs`, asks every fallback's agent for a
 * failsafe promise while Redis does not answer, and demotes the server the moment
 * permission ends (the deadline passed, or Redis refused a renewal). It never holds
 * permission while the record names another instance, nor at an epoch the registry
 * has moved past (the lease scripts refuse it).
 */
export class PermissionKeeper {
  private term: Term | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private demoting: Promise<void> | undefined;
  private readonly now: MonotonicClock;

  constructor(private readonly options: PermissionKeeperOptions) {
    this.now = options.clock ?? (() => performance.now());
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.deadlineTimer);
    await this.loop;
    await this.demoting;
  }

  /** The permission now; none unless the record names this instance active. */
  permission(): Permission {
    if (this.term === undefined)
      return { holds: false, reason: 'the record names no epoch with this instance active' };
    if (this.term.ended) return { holds: false, reason: `permission at epoch ${this.term.epoch} ended` };
    return this.term.clock.at(this.now());
  }

  /** This instance is the active at its recorded epoch, and its permission has not ended (yet). */
  runsAsActive(): boolean {
    return this.term !== undefined && !this.term.ended;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const startedAt = this.now();
      await this.tick().catch((error: Error) => this.options.log?.(`permission keeper: ${error.message}`));
      const wait = startedAt + this.options.timings.renewMs - this.now();
      if (wait > 0) await sleep(wait, undefined, { signal: this.abort.signal }).catch(() => {});
    }
  }

  /** One renewal round: read the record, renew (or ask for promises), decide. */
  private async tick(): Promise<void> {
    const { options } = this;
    let record = await options.record.read();
    if (record === undefined && options.configRole === 'active') record = await this.adoptRegistryActive();
    if (record === undefined || record.active !== options.instance) {
      if (this.term !== undefined && !this.term.ended) {
        await this.end(`the record names ${record?.active ?? 'no one'} active`);
      }
      this.term = undefined;
      return;
    }
    if (this.term === undefined || this.term.epoch !== record.epoch) {
      this.term = {
        epoch: record.epoch,
        clock: new PermissionClock(options.timings, options.fallbacks),
        startedAt: this.now(),
        held: false,
        refused: false,
        ended: false,
      };
    }
    const term = this.term;
    if (term.ended) return;
    const sentAt = this.now();
    const outcome = behindRegistry(await this.renewOrAcquire(term), term.epoch);
    if (outcome === NO_ANSWER) {
      await this.askForPromises(term, sentAt);
    } else if (outcome.ok) {
      term.held = true;
      term.clock.renewed(sentAt);
    } else {
      term.refused = true;
      term.clock.refused(describeRefusal(outcome, options.component));
    }
    await this.check(term);
  }

  /** Demotes at once when permission is gone, else checks again at its deadline. */
  private async check(term: Term): Promise<void> {
    clearTimeout(this.deadlineTimer);
    if (term.ended || this.term !== term) return;
    const permission = term.clock.at(this.now());
    if (permission.holds) {
      // Capped: with no fallbacks at all, failsafe holds without end (until = Infinity).
      const wait = Math.min(Math.max(0, permission.until - this.now()), this.options.timings.activeLeaseMs);
      this.deadlineTimer = setTimeout(() => void this.check(term), wait);
      this.deadlineTimer.unref();
      return;
    }
    // Never held yet (Redis away at start): give it a lease's time before deciding.
    if (!term.held && !term.refused && this.now() - term.startedAt < this.options.timings.activeLeaseMs)
      return;
    await this.end(permission.reason);
  }

  private async end(reason: string): Promise<void> {
    const term = this.term;
    if (term === undefined || term.ended) return;
    term.ended = true;
    clearTimeout(this.deadlineTimer);
    this.options.log?.(
      `${this.options.instance} lost permission at epoch ${term.epoch}: ${reason}; demoting it`,
    );
    this.demoting = this.options.demote(reason).catch((error: Error) => {
      this.options.log?.(`cannot demote ${this.options.instance}: ${error.message}`);
    });
    await this.demoting;
  }

  private async renewOrAcquire(term: Term): Promise<ActiveLeaseOutcome | typeof NO_ANSWER> {
    const { registry, component, instance, timings } = this.options;
    const ttl = timings.activeLeaseMs;
    return this.answered(async () => {
      if (term.held) {
        const renewed = await registry.renewActiveLease(component, instance, term.epoch, ttl);
        // A lease that lapsed (Redis restarted, renewals late) is taken again: the script
        // refuses when an activation took a newer epoch meanwhile.
        if (renewed.ok || renewed.reason !== 'lapsed') return renewed;
      }
      const acquired = await registry.acquireActiveLease(component, instance, term.epoch, ttl);
      // The activation that recorded this epoch took the lease for us (services/election
      // activation-plan.ts step 6): ours, under the same checks, so renew it.
      if (
        !acquired.ok &&
        acquired.reason === 'held' &&
        acquired.holder === activeLeaseValue(instance, term.epoch)
      )
        return registry.renewActiveLease(component, instance, term.epoch, ttl);
      return acquired;
    });
  }

  private async askForPromises(term: Term, sentAt: number): Promise<void> {
    const { instance, agentToken, timings } = this.options;
    await Promise.all(
      this.options.fallbackAgents.map(async (fallback) => {
        if (await askFailsafe(fallback, { instance, epoch: term.epoch }, agentToken, timings.renewMs)) {
          term.clock.promised(fallback.instance, sentAt);
        }
      }),
    );
  }

  /**
   * With no record yet, an instance the config makes active records the registry's
   * epoch when the registry names it active (the first `pullback up` registered it).
   */
  private async adoptRegistryActive() {
    const { registry, component, instance, record } = this.options;
    const registered = await this.answered(() => registry.component(component));
    if (registered === NO_ANSWER || registered?.active !== instance) return undefined;
    return (await record.compareAndSet({ epoch: registered.epoch, active: instance }, this.options.veto))
      .record;
  }

  /** `step`'s answer, or NO_ANSWER when Redis fails or takes longer than `renewMs`. */
  private async answered<T>(step: () => Promise<T>): Promise<T | typeof NO_ANSWER> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof NO_ANSWER>((resolve) => {
      timer = setTimeout(() => resolve(NO_ANSWER), this.options.timings.renewMs);
    });
    try {
      return await Promise.race([step().catch((): typeof NO_ANSWER => NO_ANSWER), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A registry without the component, or at an epoch below the record's, lost its data
 * (Redis restarted empty): that is no activation, which would have taken an epoch above
 * every recorded one. It counts as no answer, so failsafe promises hold the active
 * until the registry is restored (guardRegistry) and the lease can be taken again.
 */
function behindRegistry(
  outcome: ActiveLeaseOutcome | typeof NO_ANSWER,
  epoch: number,
): ActiveLeaseOutcome | typeof NO_ANSWER {
  if (outcome === NO_ANSWER || outcome.ok || outcome.reason !== 'stale-epoch') return outcome;
  return outcome.epoch === undefined || outcome.epoch < epoch ? NO_ANSWER : outcome;
}

function describeRefusal(outcome: Exclude<ActiveLeaseOutcome, { ok: true }>, component: string): string {
  switch (outcome.reason) {
    case 'stale-epoch':
      return `the registry's epoch of ${component} is ${outcome.epoch ?? 'unknown'}`;
    case 'held':
      return `active-lease.${component} is held by ${outcome.holder}`;
    case 'lapsed':
      return `active-lease.${component} lapsed`;
  }
}
