import type { Config, Pipeline, WalReceivers } from '@pullback/pipeline';
import { activationEffects } from './activation-effects.js';
import { agentAddress, findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';
import type { FailoverOutcome } from './failover.js';

export interface FinishActivationOptions {
  readonly pipeline: Pipeline;
  readonly config: Config;
  readonly component: string;
  /** The registry's active, whose server is still a standby; or the instances' records' (their naming lost). */
  readonly active: string;
  /** The registry's epoch, at which it is named. */
  readonly epoch: number;
  /** The leader's holder id, recorded as who activated. */
  readonly by: string;
  readonly agents: AgentClient;
  readonly activeLeaseMs: number;
  readonly walReceivers?: WalReceivers;
  /** Aborted when the leader loses its lease. */
  readonly signal: AbortSignal;
  /** Why, in the activation history. Default: finishing an activation cut short before its promotion. */
  readonly reason?: string;
}

/**
 * Finishes an activation cut short after it recorded its epoch on the instances and
 * before it promoted its candidate (docs/election.md "Redis lost its data"): Redis
 * restarted empty meanwhile, the leader lost its lease with it, and the registry was
 * restored from the instances' records, naming that candidate active at that epoch
 * while its server is still a standby. Its remaining steps run at the same epoch,
 * under the same checks as any activation's: the candidate's record names it at the
 * epoch (its agent checks it again before promoting), it catches up, the active lease
 * `candidate@epoch` is granted (only while the registry is at that epoch), and it is
 * promoted; then what follows the active moves and the history says so.
 */
export async function finishActivation(options: FinishActivationOptions): Promise<FailoverOutcome> {
  const { pipeline, config, component: name, active, epoch, agents } = options;
  const refuse = (why: string): FailoverOutcome => ({
    ok: false,
    line: `cannot finish the activation of ${active} of ${name} at epoch ${epoch}: ${why}`,
  });
  const component = config.components[name];
  const instance = component === undefined ? undefined : findInstance(component, active);
  const address = instance === undefined ? undefined : agentAddress(instance);
  if (address === undefined) return refuse(`${active} has no agent in the config`);
  const record = await agents.epoch(address).catch((error: Error) => error);
  if (record instanceof Error) return refuse(record.message);
  if (record?.epoch !== epoch || record.active !== active) {
    const says = record === undefined ? 'none' : `epoch ${record.epoch} naming ${record.active}`;
    return refuse(`its record is ${says}`);
  }
  const effects = activationEffects({
    pipeline,
    config,
    component: name,
    agents,
    activeLeaseMs: options.activeLeaseMs,
    ...(options.walReceivers === undefined ? {} : { walReceivers: options.walReceivers }),
    signal: options.signal,
  });
  const caughtUp = await effects.catchUp(active);
  if (!caughtUp.ok) return refuse(`catching up with the archive failed: ${caughtUp.reason}`);
  const lease = await effects.acquireActiveLease(active, epoch);
  if (!lease.ok) return refuse(`the active lease was not granted: ${lease.reason}`);
  const promoted = await effects.promote(active, epoch);
  if (!promoted.ok) return refuse(`promotion failed: ${promoted.reason}`);
  const moved = await effects.setActive(active, epoch);
  if (!moved.ok) return refuse(`the registry moved on to epoch ${moved.epoch}`);
  let warning = '';
  await effects.moveFollowers?.(active, epoch).catch((error: Error) => {
    warning = `; warning: moving the schedule, receiver and fallbacks to ${active} failed: ${error.message}`;
  });
  await effects.recordActivation({
    epoch,
    to: active,
    at: effects.now(),
    reason: options.reason ?? 'finishing an activation cut short before its promotion',
    by: options.by,
    ...(caughtUp.lostBytes === undefined ? {} : { lostBytes: caughtUp.lostBytes }),
  });
  return {
    ok: true,
    to: active,
    epoch,
    line: `activation of ${name} finished: ${active} is the active at epoch ${epoch}, as the instances record${warning}`,
  };
}
