import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from '@pullback/pipeline';

export interface LeaderLeaseOptions {
  readonly registry: Registry;
  /** Who leads: `<hostname>:<pid>` of the election worker. */
  readonly holder: string;
  readonly leaderLeaseMs: number;
  readonly clockMarginMs: number;
  /** A monotonic clock, in ms. Default: performance.now. */
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/**
 * The election leader lease `election-leader` (docs/election.md "Failure detection"),
 * taken and renewed three times per `leaderLeaseMs`. Leadership is counted on this
 * process's monotonic clock from when the last successful request was *sent*, less
 * `clockMarginMs`, so it ends here before the lease can lapse in Redis, whether Redis
 * refuses a renewal or never answers it. Each term has an AbortSignal that fires the
 * moment it ends, so whatever the leader is doing stops at once.
 */
export class LeaderLease {
  private until = 0;
  private term: AbortController | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: LeaderLeaseOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Leads now: a term is on and its deadline has not passed. */
  holds(): boolean {
    return this.term !== undefined && this.now() < this.until;
  }

  /** The current term's signal (aborted when it ends), or undefined when not leading. */
  termSignal(): AbortSignal | undefined {
    return this.holds() ? this.term?.signal : undefined;
  }

  /** Renews now and says whether it still leads: the check before acting on a verdict. */
  async confirm(): Promise<boolean> {
    if (!this.holds()) return false;
    // No answer before the deadline is no confirmation: the term ends then, here.
    const renewed = this.renew().then(() => true);
    for (let wait = this.until - this.now(); wait > 0; wait = this.until - this.now()) {
      if (await Promise.race([renewed, sleep(Math.ceil(wait) + 1).then(() => false)])) break;
    }
    if (!this.holds()) this.end('its lease was not renewed in time');
    return this.holds();
  }

  /** Stops renewing and gives the lease up if held (never another's). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    const held = this.term !== undefined;
    this.end('stopping');
    // Best effort, and never longer than the lease would take to lapse by itself.
    if (held)
      await Promise.race([
        this.options.registry.releaseLeader(this.options.holder).catch(() => false),
        sleep(this.options.leaderLeaseMs),
      ]);
  }

  private async run(): Promise<void> {
    const every = Math.max(1, Math.floor(this.options.leaderLeaseMs / 3));
    const stopped = new Promise<void>((resolve) =>
      this.stopping.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    while (!this.stopping.signal.aborted) {
      // A request Redis never answers must not hold up stopping.
      await Promise.race([this.renew(), stopped]);
      await sleep(every, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
  }

  private async renew(): Promise<void> {
    const { registry, holder, leaderLeaseMs } = this.options;
    const sentAt = this.now();
    const leading = this.term !== undefined;
    let held: boolean;
    try {
      held = leading
        ? await registry.renewLeader(holder, leaderLeaseMs)
        : await registry.acquireLeader(holder, leaderLeaseMs);
    } catch {
      return; // No answer: the deadline ends the term if none comes in time.
    }
    if (this.stopping.signal.aborted) return;
    if (!held) {
      if (leading) this.end('the lease was lost');
      return;
    }
    const until = sentAt + leaderLeaseMs - this.options.clockMarginMs;
    if (until <= this.now()) return; // Granted too late to count on.
    if (this.term === undefined) {
      this.term = new AbortController();
      this.options.log?.(`${holder} leads the election`);
    }
    this.until = Math.max(this.until, until);
    this.watchDeadline();
  }

  /** Ends the term at its deadline unless a renewal moved it. */
  private watchDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => {
        if (this.holds()) this.watchDeadline();
        else this.end('its lease was not renewed in time');
      },
      Math.max(1, Math.ceil(this.until - this.now())),
    );
    this.deadlineTimer.unref();
  }

  private end(why: string): void {
    clearTimeout(this.deadlineTimer);
    const term = this.term;
    this.term = undefined;
    this.until = 0;
    if (term === undefined) return;
    this.options.log?.(`${this.options.holder} no longer leads the election: ${why}`);
    term.abort(new Error(`${this.options.holder} no longer leads the election: ${why}`));
  }
}
