import { compareLsn } from '@pullback/archive';
import type { ActivationEffects } from '@pullback/election';
import type { ComponentConfig, Registry } from '@pullback/pipeline';
import { CLEANLY_SHUT_DOWN } from '@pullback/recipe-postgres';
import { agentAddress, findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';
import { replayedLsn } from './replayed-lsn.js';

export interface SwitchoverEffectsOptions {
  readonly registry: Registry;
  readonly component: string;
  readonly config: ComponentConfig;
  /** The active being shut down. */
  readonly oldActive: string;
  readonly agents: AgentClient;
  /** How long the target may take to replay the old active's last record. Default: 30 000 ms. */
  readonly catchUpTimeoutMs?: number;
  /** How often the target's replay position is read. Default: 10 ms (streaming takes milliseconds). */
  readonly pollMs?: number;
  /** The role the target is asked its position as. Default: `postgres`. */
  readonly user?: string;
  /** One line per step done, for the user. */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * The effects of a planned switchover (docs/election.md "Switchover"): those of an
 * activation (`base`, activation-effects.ts), with the old active shut down cleanly
 * first and the target caught up with the old active's very last WAL record instead of
 * the archive's end, so that no write the old active acknowledged is lost. No fence
 * command runs: the old active is known stopped, by its own agent, before anything is
 * promoted; a STONITH hook would only keep it from rejoining.
 */
export function switchoverEffects(
  base: ActivationEffects,
  options: SwitchoverEffectsOptions,
): ActivationEffects {
  const { registry, component, oldActive, agents } = options;
  const progress = options.progress ?? (() => {});
  /** Where the old active's WAL ends: the start of its shutdown checkpoint, its last record. */
  let finalLsn: string | undefined;
  const { runFence: _noFence, ...effects } = base;
  return {
    ...effects,

    async shutDownOldActive(epoch, candidate) {
      const instance = findInstance(options.config, oldActive);
      const agent = instance === undefined ? undefined : agentAddress(instance);
      if (agent === undefined) return { ok: false, reason: `${oldActive} has no agent in the config` };
      // Its agent demotes its server (refuses writes, fast shutdown) before it answers.
      const answer = await agents.recordEpoch(agent, epoch, candidate);
      if (answer.outcome === 'unreachable') return { ok: false, reason: answer.reason };
      if (answer.outcome === 'refused') {
        return {
          ok: false,
          reason: `its agent has epoch ${answer.epoch}${answer.reason ? ` (${answer.reason})` : ''}`,
        };
      }
      if (answer.stopped === undefined)
        return { ok: false, reason: 'its agent did not report its server stopped' };
      // Only a clean shutdown ends with a checkpoint after every write: after a crash
      // ("in production") the last record is unknown, and writes may be lost.
      if (answer.stopped.state !== CLEANLY_SHUT_DOWN) {
        return {
          ok: false,
          reason: `its pg_control says "${answer.stopped.state}", not "${CLEANLY_SHUT_DOWN}"`,
        };
      }
      finalLsn = answer.stopped.checkpointLsn;
      // Its server is down and its agent never runs it as the active at this epoch again:
      // the lease stands for nothing now, and waiting for it to lapse would cost its TTL.
      const lease = await registry.activeLease(component);
      if (lease?.instance === oldActive) await registry.releaseActiveLease(component, oldActive, lease.epoch);
      progress(
        `${oldActive} shut down cleanly; its last WAL record is the shutdown checkpoint at ${finalLsn}`,
      );
      return { ok: true };
    },

    async catchUp(candidate) {
      const instance = findInstance(options.config, candidate);
      if (instance === undefined) return { ok: false, reason: `${candidate} is not in the config` };
      if (finalLsn === undefined) return { ok: false, reason: `${oldActive} was not shut down first` };
      const timeoutMs = options.catchUpTimeoutMs ?? 30_000;
      const deadline = Date.now() + timeoutMs;
      let replayed: string | undefined;
      for (;;) {
        replayed = await replayedLsn(instance, options.user, options.signal).catch(() => replayed);
        // pg_last_wal_replay_lsn() is the end of the last record replayed: past the
        // checkpoint's start, the checkpoint itself, and every write before it, is replayed.
        if (replayed !== undefined && compareLsn(replayed, finalLsn) > 0) {
          progress(`${candidate} replayed every record of ${oldActive} (up to ${replayed})`);
          return { ok: true, lostBytes: 0 };
        }
        if (Date.now() > deadline) {
          return {
            ok: false,
            reason: `${candidate} replayed up to ${replayed ?? 'an unknown position'}, not past ${oldActive}'s last record at ${finalLsn}, within ${Math.round(timeoutMs / 1000)} s`,
          };
        }
        await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 10));
      }
    },
  };
}
