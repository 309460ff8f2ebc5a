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

export const ELECTION_DEFAULTS: ElectionTimings = {
  renewMs: 1000,
  activeLeaseMs: 3000,
  failsafeMs: 3000,
  leaderLeaseMs: 3000,
  probeMs: 500,
  probeTimeoutMs: 1000,
  agentSilentMs: 2000,
  failoverDelayMs: 2000,
  clockMarginMs: 500,
};
