import type { SoakWorld } from './world.js';
import { untilValue } from './world.js';

/** What a fault did, before the round's loss and safety are judged. */
export interface FaultResult {
  /** One line: what happened (`failover shop-a -> shop-b`, `restarted in place`, `no failover`). */
  readonly outcome: string;
  /** The active before the fault and after it. */
  readonly from: string;
  readonly to: string;
  /** When the fault was done (ms since the epoch). */
  readonly faultAt: number;
  /**
   * From the fault to the client's first write acknowledged after it (s); for faults
   * that must not stop writes, the longest time between two acknowledged writes.
   */
  readonly seconds: number;
  /** Acknowledged writes older than this before the fault must survive: 1 s (asynchronous), 0 for a planned switchover. */
  readonly rpoMs: number;
  /** How many activations the round may record (besides it, a refused one is no record). */
  readonly activations: readonly number[];
  /** Expectations the fault itself checked and found broken, one line each. */
  readonly problems: readonly string[];
}

export interface Fault {
  /** Short, for the per-round line and the table. */
  readonly name: string;
  /** `occurrence` counts this fault's rounds from 0, so a fault can vary its timing. */
  run(w: SoakWorld, occurrence: number): Promise<FaultResult>;
}

/**
 * The active's host dies (agent and PostgreSQL SIGKILLed) while the client writes, and
 * `during` runs alongside the failover (a leader paused, Redis restarted, a manual
 * activation); resolves once a write is acknowledged again and the registry names a
 * new active, with `during`'s note.
 */
export async function hostDeath(
  w: SoakWorld,
  during?: (death: { from: string; killedAt: number }) => Promise<string>,
): Promise<{ from: string; to: string; killedAt: number; seconds: number; note: string }> {
  const from = await w.active();
  await w.writer.nextAcknowledgedAfter(Date.now(), 30_000);
  const killedAt = await w.hosts.killHost(from);
  const interference = during?.({ from, killedAt });
  // Awaited below; an early failure must not be an unhandled rejection meanwhile.
  interference?.catch(() => {});
  const backAt = await w.writer.nextAcknowledgedAfter(killedAt, 120_000);
  const note = (await interference) ?? '';
  const to = await untilValue('the registry naming a new active', 60_000, async () => {
    const active = await w.active();
    return active !== from ? active : undefined;
  });
  return { from, to, killedAt, seconds: (backAt - killedAt) / 1000, note };
}

/** Resolves once `name`'s agent has been silent longer than `silentMs` (the witnesses' signal holds). */
export function agentSilent(w: SoakWorld, name: string, silentMs: number): Promise<true> {
  return untilValue(`${name}'s agent silent`, 60_000, async () => {
    const heartbeat = await w.registry.agent(name);
    return heartbeat === undefined || heartbeat.ageMs > silentMs ? true : undefined;
  });
}
