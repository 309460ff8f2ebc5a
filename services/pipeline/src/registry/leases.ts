import type { Redis } from 'ioredis';
import { PipelineError } from '../domain/errors.js';
import { newestOf, pushCapped } from './capped-list.js';
import {
  ACQUIRE_ACTIVE,
  ACQUIRE_LEADER,
  READ_AGENT,
  READ_LEASE,
  RELEASE_IF_HELD,
  RENEW_ACTIVE,
  RENEW_IF_HELD,
  REPORT_AGENT,
  SET_ACTIVE,
  TAKE_EPOCH,
} from './lease-scripts.js';
import type { ActivationRecord, AgentHeartbeat, AgentReport } from './records.js';
import type { RegistryKeys } from './registry-keys.js';

/** A lease as read: who holds it and for how much longer (ms, Redis's clock). */
export interface LeaseHolder {
  readonly holder: string;
  readonly ttlMs: number;
}

/** The active lease of a component as read. */
export interface ActiveLease {
  readonly instance: string;
  readonly epoch: number;
  readonly ttlMs: number;
}

/**
 * What taking or renewing an active lease came to: `stale-epoch` when the registry
 * epoch is not the caller's (an activation took a newer one; `epoch` is undefined for
 * an unknown component), `held` when the lease names another holder, `lapsed` when a
 * renewal found no lease.
 */
export type ActiveLeaseOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'stale-epoch'; readonly epoch: number | undefined }
  | { readonly ok: false; readonly reason: 'held'; readonly holder: string }
  | { readonly ok: false; readonly reason: 'lapsed' };

/** What `setActive` came to: refused when the registry epoch moved past the caller's. */
export type SetActiveOutcome = { readonly ok: true } | { readonly ok: false; readonly epoch: number };

type ScriptCall = (numberOfKeys: number, ...keysThenArgs: (string | number)[]) => Promise<unknown>;

const SCRIPTS = {
  pullbackAcquireLeader: ACQUIRE_LEADER,
  pullbackRenewIfHeld: RENEW_IF_HELD,
  pullbackReleaseIfHeld: RELEASE_IF_HELD,
  pullbackTakeEpoch: TAKE_EPOCH,
  pullbackAcquireActive: ACQUIRE_ACTIVE,
  pullbackRenewActive: RENEW_ACTIVE,
  pullbackReadLease: READ_LEASE,
  pullbackSetActive: SET_ACTIVE,
  pullbackReportAgent: REPORT_AGENT,
  pullbackReadAgent: READ_AGENT,
} as const;

/** The value of a component's active lease. */
export function activeLeaseValue(instance: string, epoch: number): string {
  return `${instance}@${epoch}`;
}

/**
 * The election's state in the registry (docs/election.md): the leader lease, the
 * epoch, each component's active lease, the agents' heartbeats and the activation
 * history. Every step that decides on what it reads is one Lua script (lease-scripts.ts).
 */
export class ElectionLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RegistryKeys,
    private readonly activationsKept: number,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
  }

  private async script(
    name: keyof typeof SCRIPTS,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const call = (this.redis as unknown as Record<string, ScriptCall>)[name];
    if (call === undefined) throw new Error(`registry script ${name} is not defined`);
    return call.call(this.redis, keys.length, ...keys, ...args);
  }

  /** Takes the leader lease for `ttlMs` unless another holds it; true when `holder` holds it now. */
  async acquireLeader(holder: string, ttlMs: number): Promise<boolean> {
    return (await this.script('pullbackAcquireLeader', [this.keys.leader], [holder, ttlMs])) === 1;
  }

  /** Extends the leader lease to `ttlMs` from now; false once `holder` lost it (it must stop leading). */
  async renewLeader(holder: string, ttlMs: number): Promise<boolean> {
    return (await this.script('pullbackRenewIfHeld', [this.keys.leader], [holder, ttlMs])) === 1;
  }

  /** Gives the leader lease up (a worker shutting down), never another's. */
  async releaseLeader(holder: string): Promise<boolean> {
    return (await this.script('pullbackReleaseIfHeld', [this.keys.leader], [holder])) === 1;
  }

  /** The leader now, if any. */
  async leader(): Promise<LeaseHolder | undefined> {
    return this.readLease(this.keys.leader);
  }

  /**
   * Takes the component's next epoch, `max(current, floor) + 1`, and returns it.
   * `floor` is the highest epoch recorded outside Redis (instances, archive). With
   * `leader`, only while that election worker holds the leader lease.
   */
  async takeEpoch(component: string, floor: number, leader?: string): Promise<number> {
    const epoch = Number(
      await this.script(
        'pullbackTakeEpoch',
        [this.keys.component(component), this.keys.leader],
        [floor, leader ?? ''],
      ),
    );
    if (epoch === -1) throw unknownComponent(component);
    if (epoch === -2) throw new Error(`${leader} no longer leads the election: no epoch taken`);
    return epoch;
  }

  /** Takes `active-lease.<component>` = `<instance>@<epoch>`: only when free and `epoch` is the registry's. */
  async acquireActiveLease(
    component: string,
    instance: string,
    epoch: number,
    ttlMs: number,
  ): Promise<ActiveLeaseOutcome> {
    return this.activeLeaseStep('pullbackAcquireActive', component, instance, epoch, ttlMs);
  }

  /** Renews the active lease: only while it names `<instance>@<epoch>` and `epoch` is the registry's. */
  async renewActiveLease(
    component: string,
    instance: string,
    epoch: number,
    ttlMs: number,
  ): Promise<ActiveLeaseOutcome> {
    return this.activeLeaseStep('pullbackRenewActive', component, instance, epoch, ttlMs);
  }

  /** Gives the active lease up (a clean switchover), only while it names `<instance>@<epoch>`. */
  async releaseActiveLease(component: string, instance: string, epoch: number): Promise<boolean> {
    const value = activeLeaseValue(instance, epoch);
    return (await this.script('pullbackReleaseIfHeld', [this.keys.activeLease(component)], [value])) === 1;
  }

  /** The component's active lease now, if held. */
  async activeLease(component: string): Promise<ActiveLease | undefined> {
    const lease = await this.readLease(this.keys.activeLease(component));
    if (lease === undefined) return undefined;
    const at = lease.holder.lastIndexOf('@');
    return {
      instance: lease.holder.slice(0, at),
      epoch: Number(lease.holder.slice(at + 1)),
      ttlMs: lease.ttlMs,
    };
  }

  /**
   * Records `instance` as the component's active at `epoch`, every other instance a
   * fallback at `epoch`; refused (`ok: false`, the registry's epoch) when the
   * registry epoch moved past `epoch`.
   */
  async setActive(component: string, instance: string, epoch: number): Promise<SetActiveOutcome> {
    const names = (await this.redis.smembers(this.keys.instances(component))).sort();
    const [status, current] = (await this.script(
      'pullbackSetActive',
      [
        this.keys.component(component),
        this.keys.instances(component),
        ...names.map((n) => this.keys.instance(n)),
      ],
      [instance, epoch, ...names],
    )) as [number, number];
    if (status === -1) {
      if (names.length === 0) throw unknownComponent(component);
      throw new PipelineError('unknown-component', `instance ${instance} is not in component ${component}`);
    }
    return status === 1 ? { ok: true } : { ok: false, epoch: current };
  }

  /** Stores the heartbeat of `instance`'s agent; its age is measured on Redis's clock. */
  async reportAgent(instance: string, report: AgentReport): Promise<void> {
    await this.script('pullbackReportAgent', [this.keys.agent(instance)], [JSON.stringify(report)]);
  }

  /** The last heartbeat of `instance`'s agent and its age, if it ever reported. */
  async agent(instance: string): Promise<AgentHeartbeat | undefined> {
    const [report, ageMs] = (await this.script('pullbackReadAgent', [this.keys.agent(instance)], [])) as [
      string,
      number,
    ];
    if (report === '') return undefined;
    return { ...(JSON.parse(report) as AgentReport), ageMs };
  }

  /** Appends an activation to the component's history (the newest `activationsKept` are kept). */
  recordActivation(component: string, record: ActivationRecord): Promise<void> {
    return pushCapped(
      this.redis,
      this.keys.activations(component),
      record,
      this.activationsKept,
      this.keys.activationCount(component),
    );
  }

  /** How many activations the component has had since the registry was made. */
  async activationCount(component: string): Promise<number> {
    return Number((await this.redis.get(this.keys.activationCount(component))) ?? 0);
  }

  /** The component's activations, newest first. */
  activations(component: string, count = 10): Promise<ActivationRecord[]> {
    return newestOf<ActivationRecord>(this.redis, this.keys.activations(component), count);
  }

  private async readLease(key: string): Promise<LeaseHolder | undefined> {
    const [holder, ttlMs] = (await this.script('pullbackReadLease', [key], [])) as [string, number];
    return holder === '' ? undefined : { holder, ttlMs };
  }

  private async activeLeaseStep(
    name: 'pullbackAcquireActive' | 'pullbackRenewActive',
    component: string,
    instance: string,
    epoch: number,
    ttlMs: number,
  ): Promise<ActiveLeaseOutcome> {
    const [status, detail] = (await this.script(
      name,
      [this.keys.component(component), this.keys.activeLease(component)],
      [activeLeaseValue(instance, epoch), epoch, ttlMs],
    )) as [number, string | null];
    if (status === 1) return { ok: true };
    if (status === 0) {
      return {
        ok: false,
        reason: 'stale-epoch',
        epoch: detail === '' || detail === null ? undefined : Number(detail),
      };
    }
    return detail === '' || detail === null
      ? { ok: false, reason: 'lapsed' }
      : { ok: false, reason: 'held', holder: detail };
  }
}

function unknownComponent(component: string): PipelineError {
  return new PipelineError('unknown-component', `component ${component} is not in the registry`, {
    hint: 'start `pullback up` with a config that has it',
  });
}
