import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline/config';

/** The election's timings, in ms (docs/election.md "Defaults": chosen for a failover under 8 s). */
export interface ElectionTimings {
  readonly renewMs: number;
  readonly activeLeaseMs: number;
  readonly failsafeMs: number;
  readonly leaderLeaseMs: number;
  readonly probeMs: number;
  readonly probeTimeoutMs: number;
  readonly agentSilentMs: number;
  readonly failoverDelayMs: number;
  readonly clockMarginMs: number;
}

// One set of values: the config's `election:` defaults (services/pipeline election-schema.ts).
const { maxLagBytes: _maxLagBytes, ...timings } = ELECTION_SETTING_DEFAULTS;

export const ELECTION_DEFAULTS: ElectionTimings = timings;
