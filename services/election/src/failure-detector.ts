/** What the leader saw of a component's active at one moment (docs/election.md "Failure detection"). */
export interface Observation {
  /** When, in ms on the leader's monotonic clock. */
  readonly at: number;
  /** The leader's own probe (a connection and `select 1`) succeeded. */
  readonly probeOk: boolean;
  /** No heartbeat from the active's agent for `agentSilentMs`. */
  readonly agentSilent: boolean;
  /** The active's agent reports its server down. */
  readonly agentReportsDown: boolean;
  /** The component's WAL receiver reports it lost the active. */
  readonly receiverLostActive: boolean;
}

/**
 * The detector's verdict: `suspect` while one or both signals hold but not both for
 * `failoverDelayMs` (`since`: when the suspicion began; `bothSince`: when both began
 * to hold together, if they do), `failed` once both held together that long.
 */
export type Verdict =
  | { readonly state: 'healthy' }
  | {
      readonly state: 'suspect';
      readonly since: number;
      readonly probeFailing: boolean;
      readonly witnessesFailing: boolean;
      readonly bothSince?: number;
    }
  | { readonly state: 'failed'; readonly since: number };

/** Signal B: a witness other than the leader says the active is gone. */
export function witnessesFailing(observation: Observation): boolean {
  return observation.agentSilent || observation.agentReportsDown || observation.receiverLostActive;
}

/**
 * Declares one component's active failed on two independent signals held without a
 * break for `failoverDelayMs`: A (the leader's probe fails) and B (the agent is silent
 * or reports its server down, or the WAL receiver lost it). Any successful probe
 * resets the clock, so a failure is never declared within `failoverDelayMs` of one;
 * one signal alone (an active some observers cannot reach) never fails it.
 * Observations must come in time order; a signal holds from the first observation
 * that saw it until one that did not.
 */
export class FailureDetector {
  /** When signal A began to hold without a break, if it holds. */
  private probeFailingSince: number | undefined;
  /** When signal B began to hold without a break, if it holds. */
  private witnessesFailingSince: number | undefined;
  private last: number | undefined;

  constructor(private readonly timings: { readonly failoverDelayMs: number }) {}

  observe(observation: Observation): Verdict {
    const { at } = observation;
    if (this.last !== undefined && at < this.last) {
      throw new RangeError(`observation at ${at} is older than the last one, at ${this.last}`);
    }
    this.last = at;
    this.probeFailingSince = observation.probeOk ? undefined : (this.probeFailingSince ?? at);
    this.witnessesFailingSince = witnessesFailing(observation)
      ? (this.witnessesFailingSince ?? at)
      : undefined;
    return this.verdict();
  }

  /** The verdict as of the last observation. */
  verdict(): Verdict {
    const a = this.probeFailingSince;
    const b = this.witnessesFailingSince;
    if (a === undefined && b === undefined) return { state: 'healthy' };
    if (a !== undefined && b !== undefined) {
      const bothSince = Math.max(a, b);
      if ((this.last ?? bothSince) - bothSince >= this.timings.failoverDelayMs) {
        return { state: 'failed', since: bothSince };
      }
      return {
        state: 'suspect',
        since: Math.min(a, b),
        probeFailing: true,
        witnessesFailing: true,
        bothSince,
      };
    }
    return {
      state: 'suspect',
      since: (a ?? b) as number,
      probeFailing: a !== undefined,
      witnessesFailing: b !== undefined,
    };
  }

  /** Forgets what it saw (a new active, after an activation). */
  reset(): void {
    this.probeFailingSince = undefined;
    this.witnessesFailingSince = undefined;
    this.last = undefined;
  }
}
