import { compareLsn, parseLsn } from '@pullback/archive';
import { type ActivationEffects, ELECTION_DEFAULTS, type StepOutcome } from '@pullback/election';
import {
  activeLeaseValue,
  type ComponentConfig,
  type Config,
  type InstanceConfig,
  moveWalReceiver,
  type Pipeline,
  type WalReceivers,
} from '@pullback/pipeline';
import { agentAddress, findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';
import { highestRecordedEpoch } from './epoch-floor.js';
import { pointPgBouncer } from './pgbouncer-hook.js';
import { replayedLsn, replayedTimeline } from './replayed-lsn.js';
import { repointFallback } from './repoint-fallback.js';
import { runFence } from './run-fence.js';

export interface ActivationEffectsOptions {
  /** The queues and registry (the export scheduler is re-upserted through it). */
  readonly pipeline: Pipeline;
  readonly config: Config;
  readonly component: string;
  /** The old active (the registry's active when the activation began), if any. */
  readonly oldActive?: string;
  readonly agents: AgentClient;
  /** The active lease's TTL given to the new active, and the longest one waited for. Default: ELECTION_DEFAULTS.activeLeaseMs. */
  readonly activeLeaseMs?: number;
  /** Slack on top of a lease's remaining time before giving up waiting for it. Default: 2 000 ms. */
  readonly leaseMarginMs?: number;
  /** The fence command's time limit. Default: 30 000 ms. */
  readonly fenceTimeoutMs?: number;
  /** How long the candidate may take to replay to the archive's end. Default: 60 000 ms. */
  readonly catchUpTimeoutMs?: number;
  /** How often leases and positions are polled. Default: 100 ms. */
  readonly pollMs?: number;
  /** The highest epoch the archive's snapshots record for the component (`recordedEpochs`), when known. */
  readonly archiveEpoch?: () => Promise<number | undefined>;
  /**
   * The end of the WAL the archive holds, the partial included. Default: the WAL
   * receiver's `archivedLsn` in the registry (what it stored last).
   */
  readonly archiveWalEnd?: () => Promise<string | undefined>;
  /** The WAL receivers when they run in this process (the election worker); else they follow the registry within a report interval. */
  readonly walReceivers?: WalReceivers;
  /** The role the fallbacks' replication connection logs in as. Default: `postgres`. */
  readonly replicationUser?: string;
  readonly signal?: AbortSignal;
  /** The election worker activating: its epoch is taken only while it holds the leader lease. */
  readonly leader?: string;
}

/**
 * The real effects of `activate()` (services/election activation-plan.ts), in the
 * order of docs/election.md "Activation": the registry's Lua steps, the agents' epoch
 * records and promotion over HTTP, the fence command, the candidate's catch-up read
 * from its own server, and what follows the active moved.
 */
export function activationEffects(options: ActivationEffectsOptions): ActivationEffects {
  const { pipeline, config, component: name, agents } = options;
  const registry = pipeline.registry;
  const component = requireComponent(config, name);
  const activeLeaseMs = options.activeLeaseMs ?? ELECTION_DEFAULTS.activeLeaseMs;
  const pollMs = options.pollMs ?? 100;
  const signal = options.signal;
  const archiveWalEnd =
    options.archiveWalEnd ?? (async () => (await registry.component(name))?.walReceiver?.archivedLsn);
  const addressOf = (instance: string) => {
    const found = findInstance(component, instance);
    return found === undefined ? undefined : agentAddress(found);
  };

  const effects: ActivationEffects = {
    async takeEpoch(floor) {
      const recorded = await highestRecordedEpoch(component, agents, options.archiveEpoch);
      return registry.takeEpoch(name, Math.max(floor, recorded), options.leader);
    },

    async waitLeaseLapsed() {
      let deadline: number | undefined;
      for (;;) {
        const lease = await registry.activeLease(name);
        if (lease === undefined) return { lapsed: true };
        // Never deleted by us: its holder's renewals fail since the epoch moved, so it runs out.
        deadline ??= Date.now() + Math.max(activeLeaseMs, lease.ttlMs) + (options.leaseMarginMs ?? 2000);
        if (Date.now() > deadline) return { lapsed: false, holder: `${lease.instance}@${lease.epoch}` };
        await pause(pollMs, signal);
      }
    },

    async recordEpoch(instance, epoch, active) {
      const agent = addressOf(instance);
      if (agent === undefined)
        return { outcome: 'unreachable', reason: `${instance} has no agent in the config` };
      return agents.recordEpoch(agent, epoch, active);
    },

    async catchUp(candidate) {
      const instance = findInstance(component, candidate);
      if (instance === undefined) return { ok: false, reason: `${candidate} is not in the config` };
      const end = await reachableArchiveEnd(instance);
      const lostBytes = await lostBeyond(end);
      // With no end to reach, still one answer from its server: a candidate whose agent
      // has just started it again (its keeper's demotion at an older epoch stops it) would
      // fail the promotion, and the next activation's demotion would stop it again.
      const limitMs = end === undefined ? ANSWER_TIMEOUT_MS : (options.catchUpTimeoutMs ?? 60_000);
      const deadline = Date.now() + limitMs;
      let replayed: string | undefined;
      for (;;) {
        replayed = await replayedLsn(instance, options.replicationUser, signal).catch(() => replayed);
        if (replayed !== undefined && (end === undefined || compareLsn(replayed, end) >= 0))
          return { ok: true, ...lostBytes };
        if (Date.now() > deadline) {
          const within = `within ${Math.round(limitMs / 1000)} s`;
          return {
            ok: false,
            reason:
              end === undefined
                ? `${candidate}'s server did not answer ${within}`
                : `${candidate} replayed up to ${replayed ?? 'an unknown position'}, not the archive's end ${end}, ${within}`,
          };
        }
        await pause(pollMs, signal);
      }
    },

    async acquireActiveLease(candidate, epoch) {
      const outcome = await registry.acquireActiveLease(name, candidate, epoch, activeLeaseMs);
      if (outcome.ok) return { ok: true };
      // The candidate's own agent took it once its record named it active at `epoch`
      // (workers/agent permission-keeper.ts): the same lease, granted under the same epoch check.
      if (outcome.reason === 'held' && outcome.holder === activeLeaseValue(candidate, epoch))
        return { ok: true };
      if (outcome.reason === 'held')
        return { ok: false, reason: `held by ${outcome.holder}`, holder: outcome.holder };
      if (outcome.reason === 'stale-epoch') {
        return { ok: false, reason: `the registry is at epoch ${outcome.epoch ?? 'none'}, not ${epoch}` };
      }
      return { ok: false, reason: outcome.reason };
    },

    async promote(candidate, epoch): Promise<StepOutcome> {
      const agent = addressOf(candidate);
      if (agent === undefined) return { ok: false, reason: `${candidate} has no agent in the config` };
      return agents.promote(agent, epoch);
    },

    setActive: (candidate, epoch) => registry.setActive(name, candidate, epoch),

    async moveFollowers(candidate, epoch) {
      const newActive = requireInstance(component, candidate);
      // Jobs carry the epoch their scheduler was upserted with: upserted again, they carry the new one.
      await pipeline.upsertSchedules(name, component);
      // A receiver elsewhere follows the registry's active within its report interval.
      if (options.walReceivers !== undefined) moveWalReceiver(options.walReceivers, name);
      const failures: string[] = [];
      // PgBouncer first: its clients wait for it, the fallbacks' re-pointing can take seconds.
      if (component.recipe === 'postgres' && component.pgbouncer !== undefined) {
        const isCurrent = async () => (await registry.component(name))?.epoch === epoch;
        await pointPgBouncer(component.pgbouncer, component.pgbouncer.database ?? name, newActive, {
          isCurrent,
        }).catch((error: Error) => failures.push(error.message));
      }
      for (const instance of component.instances) {
        if (instance.name === candidate || instance.name === options.oldActive) continue;
        await repointFallback(instance, newActive, options.replicationUser, signal).catch((error: Error) =>
          failures.push(`${instance.name}: ${error.message}`),
        );
      }
      if (failures.length > 0) throw new Error(`not re-pointed: ${failures.join('; ')}`);
    },

    recordActivation: (record) => registry.recordActivation(name, record),

    now: () => new Date().toISOString(),
  };
  if (component.recipe === 'postgres' && component.fence !== undefined) {
    const fence = component.fence;
    effects.runFence = (oldActive) =>
      runFence(fence, oldActive === undefined ? undefined : findInstance(component, oldActive), {
        timeoutMs: options.fenceTimeoutMs ?? 30_000,
      });
  }
  return effects;

  /** What the old active had that the archive lacks: its last LSN the receiver saw, past the archive's end. */
  /**
   * The archive's end, unless the receiver archived it on an older timeline than the one
   * the candidate follows: it never streamed the newer active (dead seconds after its
   * promotion), so what the archive holds past the fork on the older timeline is a branch
   * the candidate cannot replay. Compared anyway, the catch-up waited its whole minute,
   * and each next failover as long (soak:election, 2 min 19 s without an active).
   */
  async function reachableArchiveEnd(candidate: InstanceConfig): Promise<string | undefined> {
    const end = await archiveWalEnd();
    if (end === undefined) return undefined;
    const archived = (await registry.component(name))?.walReceiver?.timeline;
    if (archived === undefined) return end;
    const following = await replayedTimeline(candidate, options.replicationUser, signal);
    return following !== undefined && following > archived ? undefined : end;
  }

  async function lostBeyond(end: string | undefined): Promise<{ lostBytes?: number }> {
    const receiver = (await registry.component(name))?.walReceiver;
    if (end === undefined || receiver?.activeLsn === undefined) return {};
    if (options.oldActive !== undefined && receiver.source !== options.oldActive) return {};
    const lost = parseLsn(receiver.activeLsn) - parseLsn(end);
    return { lostBytes: lost > 0n ? Number(lost) : 0 };
  }
}

/** How long a candidate's server may take to answer at all when there is no archive end to reach. */
const ANSWER_TIMEOUT_MS = 15_000;

function requireComponent(config: Config, name: string): ComponentConfig {
  const component = config.components[name];
  if (component === undefined) throw new Error(`no component ${name} in the config`);
  return component;
}

function requireInstance(component: ComponentConfig, name: string) {
  const instance = findInstance(component, name);
  if (instance === undefined) throw new Error(`${name} is not in the config`);
  return instance;
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    // The listener goes with the pause: polls add one each, for as long as an activation waits.
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
