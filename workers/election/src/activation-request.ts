import type { ActivationRequest, Fallback } from '@pullback/election';
import { ELECTION_SETTING_DEFAULTS, type InstanceRecord, type Registry } from '@pullback/pipeline';

/** How far behind the archive a fallback may be and still be activated without --force, by default: one WAL segment. */
export const DEFAULT_MAX_LAG_BYTES = ELECTION_SETTING_DEFAULTS.maxLagBytes;

export interface ActivationRequestOptions {
  readonly component: string;
  readonly candidate: string;
  /** The election's verdict, or by hand: the active is not healthy (`activeHealth`). */
  readonly activeFailed: boolean;
  readonly force?: boolean;
  readonly reason: string;
  readonly by: string;
  /** Default: DEFAULT_MAX_LAG_BYTES. */
  readonly maxLagBytes?: number;
}

/**
 * The request `activate()` runs on, as the registry sees the component now: the
 * candidate as a fallback (its priority, health and replayed position as its import
 * agent last reported), the active, every other instance, and the archive's WAL end
 * as the receiver last stored it.
 */
export async function readActivationRequest(
  registry: Registry,
  options: ActivationRequestOptions,
): Promise<ActivationRequest> {
  const { component, candidate: name } = options;
  const record = await registry.requireComponent(component);
  const instances = await registry.instances(component);
  const candidate = instances.find((instance) => instance.name === name);
  const fallback = candidate?.role === 'fallback' ? fallbackOf(candidate) : undefined;
  const archiveLsn = record.walReceiver?.archivedLsn;
  return {
    component,
    candidate: fallback,
    candidateName: name,
    ...(record.active === undefined ? {} : { active: record.active }),
    activeFailed: options.activeFailed,
    others: instances.map((instance) => instance.name).filter((other) => other !== name),
    floor: record.epoch,
    ...(archiveLsn === undefined ? {} : { archiveLsn }),
    maxLagBytes: options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES,
    ...(options.force ? { force: true } : {}),
    reason: options.reason,
    by: options.by,
  };
}

/** A fallback as the election sees it: its priority, and health and replayed position as its import agent last reported. */
export function fallbackOf(instance: InstanceRecord): Fallback {
  const state = instance.state;
  return {
    name: instance.name,
    priority: instance.priority,
    healthy: state?.healthy ?? false,
    ...(state === undefined
      ? { reason: 'its import agent has reported nothing' }
      : state.reason === undefined
        ? {}
        : { reason: state.reason }),
    ...(state?.lsn === undefined ? {} : { lsn: state.lsn }),
  };
}
