import { z } from 'zod';
import { integer } from './integer.js';

/**
 * The election's settings (docs/election.md "Defaults"): times in ms, chosen for a
 * failover under 8 s, and how far behind the archive a fallback may be and still be
 * chosen automatically. `ELECTION_DEFAULTS` in services/election are these.
 */
export const ELECTION_SETTING_DEFAULTS = {
  /** The active's agent renews its lease (and reports its heartbeat) this often. */
  renewMs: 1000,
  /** The active lease's TTL: an active cut off stops taking writes within it. */
  activeLeaseMs: 3000,
  /** How long a fallback's failsafe promise lasts. */
  failsafeMs: 3000,
  /** The election leader's lease: a dead or paused leader is replaced within it. */
  leaderLeaseMs: 3000,
  /** The leader probes each active this often. */
  probeMs: 500,
  /** A probe (a connection and `select 1`) that takes longer fails. */
  probeTimeoutMs: 1000,
  /** An agent with no heartbeat for this long is silent. */
  agentSilentMs: 2000,
  /** Both signals must hold this long, without a break, before a failover. */
  failoverDelayMs: 2000,
  /** Slack for clocks that run at different rates. */
  clockMarginMs: 500,
  /** A fallback behind the archive by more bytes is never chosen automatically (one WAL segment). */
  maxLagBytes: 16 * 1024 * 1024,
} as const;

export type ElectionSettings = { readonly [K in keyof typeof ELECTION_SETTING_DEFAULTS]: number };

const ms = () => integer().min(1);

/**
 * `election:` in pullback.yaml, every key optional (defaults above). The relations
 * that keep the safety rule are checked over the settings as they will run, defaults
 * included: an active must renew its lease before it lapses, and a healthy agent's
 * heartbeat must come more often than it is called silent.
 */
export const electionSchema = z
  .strictObject({
    renewMs: ms().optional(),
    activeLeaseMs: ms().optional(),
    failsafeMs: ms().optional(),
    leaderLeaseMs: ms().optional(),
    probeMs: ms().optional(),
    probeTimeoutMs: ms().optional(),
    agentSilentMs: ms().optional(),
    failoverDelayMs: ms().optional(),
    clockMarginMs: integer().min(0).optional(),
    maxLagBytes: integer().min(0).optional(),
  })
  .superRefine((given, ctx) => {
    const s = { ...ELECTION_SETTING_DEFAULTS, ...given };
    const below = (low: keyof ElectionSettings, high: keyof ElectionSettings, why: string) => {
      if (s[low] < s[high]) return;
      const key = low in given ? low : high;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${low} (${s[low]}) must be below ${high} (${s[high]}): ${why}`,
        input: given[key],
      });
    };
    below('renewMs', 'activeLeaseMs', 'the active lease would lapse between renewals');
    below('clockMarginMs', 'activeLeaseMs', 'no permission would be left');
    below('clockMarginMs', 'failsafeMs', 'no failsafe promise would count');
    below('renewMs', 'agentSilentMs', 'a healthy agent would look silent between heartbeats');
  });

/** The election's settings as they run: the config's, defaults for the rest. */
export function electionSettings(config: {
  readonly election?: Partial<ElectionSettings>;
}): ElectionSettings {
  return { ...ELECTION_SETTING_DEFAULTS, ...config.election };
}
