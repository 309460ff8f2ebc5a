import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis, Registry } from '@pullback/pipeline';
import type { EpochProposal, EpochRecordStore } from './epoch-record.js';

export interface EpochFollowerOptions {
  readonly component: string;
  readonly instance: string;
  /** Its role in the config: with no record yet, only an instance the config makes active takes the registry's. */
  readonly configRole: 'active' | 'fallback';
  readonly registry: Registry;
  readonly record: EpochRecordStore;
  /** Checked inside the compare-and-set (a live failsafe promise blocks a newer epoch). */
  readonly veto?: (proposal: EpochProposal) => string | undefined;
  readonly intervalMs: number;
  readonly log?: (line: string) => void;
}

/**
 * Records on the instance an activation it missed (its agent was down or cut off when
 * the activation recorded the epoch on every agent that answered): when the registry
 * names *another* instance active at an epoch newer than the record's, the record takes
 * that epoch and active, by the same compare-and-set as `POST /epoch`. The registry names
 * the new active only once it was promoted (docs/election.md "Activation", step 7), so
 * this only ever makes the instance a fallback: an old active whose agent comes back
 * after a failover then rejoins (rejoin.ts) instead of staying down. A registry that
 * names this instance, or is at an older epoch (Redis lost its data), changes nothing.
 * With no record at all, only an instance the config makes active (its record lost
 * with its state directory) takes it; a fallback's role is the config's already.
 */
export async function followNewerActive(options: Omit<EpochFollowerOptions, 'intervalMs'>): Promise<boolean> {
  const registered = await options.registry.component(options.component);
  if (registered?.active === undefined || registered.active === options.instance) return false;
  // The epoch at which the active took its role, not the component's: an activation
  // under way has taken a newer epoch (step 2) long before it names its new active
  // (step 7), and that epoch is the activation's to record, not this follower's.
  const activeRecord = await options.registry.instance(registered.active);
  if (activeRecord?.role !== 'active') return false;
  const epoch = activeRecord.epoch;
  const recorded = await options.record.read();
  if (recorded === undefined ? options.configRole !== 'active' : recorded.epoch >= epoch) return false;
  const outcome = await options.record.compareAndSet({ epoch, active: registered.active }, options.veto);
  if (outcome.accepted) {
    options.log?.(
      `${options.instance} records epoch ${epoch} of ${options.component} naming ${registered.active} active, as the registry does`,
    );
  }
  return outcome.accepted;
}

/**
 * Runs followNewerActive every `intervalMs`, from when the registry's connection is
 * first ready; a round Redis does not answer is tried again at the next, and only the
 * first of a run of failures is logged.
 */
export function startEpochFollower(options: EpochFollowerOptions): { stop(): Promise<void> } {
  const abort = new AbortController();
  let failing = false;
  const loop = (async () => {
    // The agent's connection has no offline queue (agent-registry.ts): a round sent while
    // it still connects fails at once ("Stream isn't writeable"), which is no news.
    await connected(options.registry.redis, abort.signal);
    while (!abort.signal.aborted) {
      try {
        await followNewerActive(options);
        failing = false;
      } catch (error) {
        if (!failing)
          options.log?.(
            `cannot compare ${options.instance}'s epoch with the registry's: ${(error as Error).message}`,
          );
        failing = true;
      }
      await sleep(options.intervalMs, undefined, { signal: abort.signal }).catch(() => {});
    }
  })();
  return {
    stop: async () => {
      abort.abort();
      await loop;
    },
  };
}

/** Resolves once `redis` is ready (at once if it is), or when `signal` aborts. */
function connected(redis: Redis, signal: AbortSignal): Promise<void> {
  if (redis.status === 'ready' || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      redis.off('ready', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    redis.on('ready', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
