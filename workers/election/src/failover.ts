import { activate, chooseCandidate } from '@pullback/election';
import type { Config, ElectionSettings, Pipeline, WalReceivers } from '@pullback/pipeline';
import { activationEffects } from './activation-effects.js';
import { fallbackOf, readActivationRequest } from './activation-request.js';
import { findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';

export interface FailoverOptions {
  readonly pipeline: Pipeline;
  readonly config: Config;
  readonly component: string;
  /** The active the detector declared failed. */
  readonly failed: string;
  /** The leader's holder id, recorded as who activated. */
  readonly by: string;
  readonly settings: ElectionSettings;
  readonly agents: AgentClient;
  readonly walReceivers?: WalReceivers;
  /** Aborted when the leader loses its lease: the activation stops where it is. */
  readonly signal: AbortSignal;
}

/** What a failover came to, in one line for the log. */
export type FailoverOutcome =
  | { readonly ok: true; readonly line: string; readonly to: string; readonly epoch: number }
  | {
      readonly ok: false;
      readonly line: string;
      /** The epoch it took before it was refused, if it got that far. */
      readonly epoch?: number;
    };

/**
 * Replaces a failed active (docs/election.md "Activation"): chooses the best fallback
 * (`chooseCandidate`: healthy, with an agent, not too far behind the archive; the
 * newest position, then priority, then name) and activates it by the path every
 * activation takes, with reason `failover: <old> failed`.
 */
export async function failover(options: FailoverOptions): Promise<FailoverOutcome> {
  const { pipeline, config, component: name, failed, settings } = options;
  const registry = pipeline.registry;
  const component = config.components[name];
  if (component === undefined) return { ok: false, line: `no component ${name} in the config` };
  const record = await registry.requireComponent(name);
  const instances = await registry.instances(name);
  const fallbacks = instances
    .filter((instance) => instance.role === 'fallback')
    .map((instance) =>
      findInstance(component, instance.name)?.agent === undefined
        ? { ...fallbackOf(instance), healthy: false, reason: 'it has no agent in the config' }
        : fallbackOf(instance),
    );
  const archiveLsn = record.walReceiver?.archivedLsn;
  const choice = chooseCandidate(fallbacks, {
    maxLagBytes: settings.maxLagBytes,
    ...(archiveLsn === undefined ? {} : { archiveLsn }),
  });
  if (choice.chosen === undefined) {
    const why = choice.excluded.map((excluded) => excluded.reason).join('; ') || 'it has no fallback';
    return { ok: false, line: `${failed} of ${name} failed and no fallback can take over: ${why}` };
  }
  const candidate = choice.chosen.name;
  const request = await readActivationRequest(registry, {
    component: name,
    candidate,
    activeFailed: true,
    reason: `failover: ${failed} failed`,
    by: options.by,
    maxLagBytes: settings.maxLagBytes,
  });
  const result = await activate(
    request,
    activationEffects({
      pipeline,
      config,
      component: name,
      oldActive: failed,
      agents: options.agents,
      // The election's failover: its epoch only while this worker still leads.
      leader: options.by,
      activeLeaseMs: settings.activeLeaseMs,
      ...(options.walReceivers === undefined ? {} : { walReceivers: options.walReceivers }),
      signal: options.signal,
    }),
  );
  if (!result.ok) {
    return {
      ok: false,
      line: `failover of ${name}: ${result.reason}`,
      ...(result.epoch === undefined ? {} : { epoch: result.epoch }),
    };
  }
  const lost = result.lostBytes === undefined ? 'unknown' : `${result.lostBytes} bytes`;
  const warnings = result.warnings.length === 0 ? '' : `; warning: ${result.warnings.join('; ')}`;
  // Why a fallback was passed over (too far behind, unhealthy) is said where the failover is.
  const passedOver =
    choice.excluded.length === 0
      ? ''
      : `; left out: ${choice.excluded.map((excluded) => excluded.reason).join('; ')}`;
  return {
    ok: true,
    to: candidate,
    epoch: result.epoch,
    line: `failover of ${name}: ${failed} failed, ${candidate} is the active at epoch ${result.epoch}; lost: ${lost}${passedOver}${warnings}`,
  };
}
