import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ComponentConfig, Config, InstanceRole } from '../config/schema.js';
import { PipelineError } from '../domain/errors.js';
import { newestOf, pushCapped } from './capped-list.js';
import {
  type ActiveLease,
  type ActiveLeaseOutcome,
  ElectionLeases,
  type LeaseHolder,
  type SetActiveOutcome,
} from './leases.js';
import type {
  ActivationRecord,
  AgentHeartbeat,
  AgentReport,
  ComponentRecord,
  ExportRecord,
  FailureRecord,
  FallbackState,
  InstanceRecord,
  RecordedEpoch,
  SnapshotHealth,
  SnapshotRecord,
  WalGap,
  WalReceiverState,
} from './records.js';
import { DEFAULT_PREFIX, type RegistryKeys, registryKeys } from './registry-keys.js';
import {
  CHECK_EPOCH,
  MARK_SNAPSHOT,
  QUEUE_SNAPSHOT,
  RECORD_SNAPSHOT,
  REGISTER_COMPONENT,
  RELEASE_LOCK,
  RENEW_LOCK,
  REPLACE_FALLBACK_STATE,
  REPLACE_WAL_GAPS,
  WRITE_IF_EPOCH,
} from './scripts.js';

export interface RegistryOptions {
  /** Namespace of every key. Default: `pullback` (keys under `pullback:registry:`). */
  readonly prefix?: string;
  /** Failure records kept per component. Default: 50. */
  readonly failuresKept?: number;
  /** Activation records kept per component. Default: 50. */
  readonly activationsKept?: number;
}

/** A held registry lock: renew it while working, release it after. */
export interface RegistryLock {
  readonly scope: string;
  /** False once the lock expired or was taken over: the work must stop. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

type ScriptCall = (numberOfKeys: number, ...keysThenArgs: (string | number)[]) => Promise<unknown>;

const SCRIPTS = {
  pullbackRegisterComponent: REGISTER_COMPONENT,
  pullbackCheckEpoch: CHECK_EPOCH,
  pullbackWriteIfEpoch: WRITE_IF_EPOCH,
  pullbackRecordSnapshot: RECORD_SNAPSHOT,
  pullbackReplaceFallbackState: REPLACE_FALLBACK_STATE,
  pullbackMarkSnapshot: MARK_SNAPSHOT,
  pullbackQueueSnapshot: QUEUE_SNAPSHOT,
  pullbackRenewLock: RENEW_LOCK,
  pullbackReleaseLock: RELEASE_LOCK,
  pullbackReplaceWalGaps: REPLACE_WAL_GAPS,
} as const;

/**
 * The pipeline's live state in Redis: components, instances with their live role
 * and epoch, the last export and snapshot, each fallback's position, failures.
 * Coordination only: everything here can be rebuilt (from the config and the
 * archive), and nothing here is history.
 */
export class Registry {
  readonly keys: RegistryKeys;
  readonly prefix: string;
  private readonly failuresKept: number;
  private readonly leases: ElectionLeases;

  constructor(
    readonly redis: Redis,
    options: RegistryOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.keys = registryKeys(this.prefix);
    this.failuresKept = options.failuresKept ?? 50;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      // The key count is the first argument of each call, so scripts take any number of keys.
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
    this.leases = new ElectionLeases(redis, this.keys, options.activationsKept ?? 50);
  }

  // The election's state (docs/election.md), in leases.ts: see each method there.
  acquireLeader(holder: string, ttlMs: number): Promise<boolean> {
    return this.leases.acquireLeader(holder, ttlMs);
  }
  renewLeader(holder: string, ttlMs: number): Promise<boolean> {
    return this.leases.renewLeader(holder, ttlMs);
  }
  releaseLeader(holder: string): Promise<boolean> {
    return this.leases.releaseLeader(holder);
  }
  leader(): Promise<LeaseHolder | undefined> {
    return this.leases.leader();
  }
  takeEpoch(component: string, floor: number, leader?: string): Promise<number> {
    return this.leases.takeEpoch(component, floor, leader);
  }
  acquireActiveLease(
    component: string,
    instance: string,
    epoch: number,
    ttlMs: number,
  ): Promise<ActiveLeaseOutcome> {
    return this.leases.acquireActiveLease(component, instance, epoch, ttlMs);
  }
  renewActiveLease(
    component: string,
    instance: string,
    epoch: number,
    ttlMs: number,
  ): Promise<ActiveLeaseOutcome> {
    return this.leases.renewActiveLease(component, instance, epoch, ttlMs);
  }
  releaseActiveLease(component: string, instance: string, epoch: number): Promise<boolean> {
    return this.leases.releaseActiveLease(component, instance, epoch);
  }
  activeLease(component: string): Promise<ActiveLease | undefined> {
    return this.leases.activeLease(component);
  }
  setActive(component: string, instance: string, epoch: number): Promise<SetActiveOutcome> {
    return this.leases.setActive(component, instance, epoch);
  }
  reportAgent(instance: string, report: AgentReport): Promise<void> {
    return this.leases.reportAgent(instance, report);
  }
  agent(instance: string): Promise<AgentHeartbeat | undefined> {
    return this.leases.agent(instance);
  }
  recordActivation(component: string, record: ActivationRecord): Promise<void> {
    return this.leases.recordActivation(component, record);
  }
  activations(component: string, count?: number): Promise<ActivationRecord[]> {
    return this.leases.activations(component, count);
  }
  /** How many activations the component has had (not trimmed as the list is). */
  activationCount(component: string): Promise<number> {
    return this.leases.activationCount(component);
  }

  /** Runs script `name` on `keys` (declared to Redis, as a cluster needs) with `args`. */
  private async script(
    name: keyof typeof SCRIPTS,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const call = (this.redis as unknown as Record<string, ScriptCall>)[name];
    if (call === undefined) throw new Error(`registry script ${name} is not defined`);
    return call.call(this.redis, keys.length, ...keys, ...args);
  }

  /** Runs a script that answers 1 when it wrote and 0 when its condition refused the write. */
  private async scriptWrote(
    name: keyof typeof SCRIPTS,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<boolean> {
    return (await this.script(name, keys, args)) === 1;
  }

  /**
   * Registers every component of the config (see `registerComponent`), none at an
   * epoch below `recorded[name]`. Returns each component's epoch and active.
   */
  async registerConfig(
    config: Config,
    recorded: Readonly<Record<string, RecordedEpoch>> = {},
  ): Promise<Record<string, { epoch: number; active?: string }>> {
    const registered: Record<string, { epoch: number; active?: string }> = {};
    for (const [name, component] of Object.entries(config.components)) {
      registered[name] = await this.registerComponent(name, component, recorded[name]);
    }
    return registered;
  }

  /**
   * Sets the registry's marker unless it is set, once the config is registered. Its
   * absence later is how a running process tells that Redis lost the registry
   * (restarted empty, a replica promoted before it had synced). Of several processes
   * restoring at once, only one sets it: true for that one.
   */
  async markRegistered(): Promise<boolean> {
    return (await this.redis.set(this.keys.registered, new Date().toISOString(), 'NX')) === 'OK';
  }

  /** False once Redis lost the registry: registered before, and restarted empty since. */
  async isRegistered(): Promise<boolean> {
    return (await this.redis.exists(this.keys.registered)) === 1;
  }

  /**
   * Registers a component and its instances. The first registration takes the
   * config's initial roles at epoch 1; later ones (restarts) only refresh what the
   * config owns (host, port, data directory, priority, schedule, outbox) and never
   * the live role or epoch, except to raise the epoch to `recorded`: the highest
   * epoch recorded outside Redis, which a registry restored after a reset must not fall below.
   * When `recorded` names the active the instances record at that epoch, a registry
   * registered anew (restored) or raised to it takes that active rather than the
   * config's (scripts.ts REGISTER_COMPONENT).
   */
  async registerComponent(
    name: string,
    component: ComponentConfig,
    recorded: RecordedEpoch = 1,
  ): Promise<{ epoch: number; active?: string }> {
    const instances = component.instances;
    const lowestEpoch = typeof recorded === 'number' ? recorded : recorded.epoch;
    const recordedActive = typeof recorded === 'number' ? '' : (recorded.active ?? '');
    const result = (await this.script(
      'pullbackRegisterComponent',
      [
        this.keys.components,
        this.keys.component(name),
        this.keys.instances(name),
        ...instances.map((instance) => this.keys.instance(instance.name)),
      ],
      [
        name,
        component.recipe,
        component.schedule,
        component.outbox,
        new Date().toISOString(),
        lowestEpoch,
        recordedActive,
        ...instances.map((instance) =>
          JSON.stringify({
            name: instance.name,
            role: instance.role,
            host: instance.host,
            port: instance.port,
            dataDir: instance.dataDir,
            priority: instance.priority,
          }),
        ),
      ],
    )) as [number, string, number];
    return { epoch: result[0], ...(result[1] === '' ? {} : { active: result[1] }) };
  }

  async componentNames(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.components)).sort();
  }

  async component(name: string): Promise<ComponentRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.component(name));
    if (hash.epoch === undefined) return undefined;
    return {
      name,
      recipe: hash.recipe ?? '',
      schedule: hash.schedule ?? '',
      outbox: hash.outbox ?? '',
      epoch: Number(hash.epoch),
      active: hash.active === undefined || hash.active === '' ? undefined : hash.active,
      ...parsedField<ExportRecord>('lastExport', hash.lastExport),
      ...parsedField<SnapshotRecord>('lastSnapshot', hash.lastSnapshot),
      ...parsedField<SnapshotRecord>('lastLogicalSnapshot', hash.lastLogicalSnapshot),
      ...parsedField<WalReceiverState>('walReceiver', hash.walReceiver),
      ...parsedField<readonly WalGap[]>('walGaps', hash.walGaps),
    };
  }

  /** The component, or a permanent `unknown-component` error. */
  async requireComponent(name: string): Promise<ComponentRecord> {
    const record = await this.component(name);
    if (record === undefined) {
      throw new PipelineError('unknown-component', `component ${name} is not in the registry`, {
        hint: 'start `pullback up` with a config that has it',
      });
    }
    return record;
  }

  async instance(name: string): Promise<InstanceRecord | undefined> {
    const hash = await this.redis.hgetall(this.keys.instance(name));
    if (hash.role === undefined) return undefined;
    return {
      name,
      component: hash.component ?? '',
      role: hash.role as InstanceRole,
      epoch: Number(hash.epoch),
      host: hash.host ?? '',
      port: Number(hash.port),
      dataDir: hash.dataDir ?? '',
      priority: Number(hash.priority),
      ...parsedField<FallbackState>('state', hash.state),
      ...(hash.queuedSnapshotId === undefined ? {} : { queuedSnapshotId: hash.queuedSnapshotId }),
    };
  }

  /** The component's instances, by name. */
  async instances(component: string): Promise<InstanceRecord[]> {
    const names = (await this.redis.smembers(this.keys.instances(component))).sort();
    const records = await Promise.all(names.map((name) => this.instance(name)));
    return records.filter((record): record is InstanceRecord => record !== undefined);
  }

  /** The component's fallbacks (live role), by name. */
  async fallbacks(component: string): Promise<InstanceRecord[]> {
    return (await this.instances(component)).filter((instance) => instance.role === 'fallback');
  }

  /** Whether `epoch` is the component's epoch now, and what that is. */
  async checkEpoch(component: string, epoch: number): Promise<{ ok: boolean; current: number | undefined }> {
    const [status, current] = (await this.script(
      'pullbackCheckEpoch',
      [this.keys.component(component)],
      [epoch],
    )) as [number, number];
    if (status === -1) return { ok: false, current: undefined };
    return { ok: status === 1, current };
  }

  /** Throws a permanent `stale-epoch` (or `unknown-component`) error unless `epoch` is current. */
  async assertEpoch(component: string, epoch: number, what: string): Promise<void> {
    const { ok, current } = await this.checkEpoch(component, epoch);
    if (ok) return;
    if (current === undefined) {
      throw new PipelineError('unknown-component', `${what}: component ${component} is not in the registry`);
    }
    throw new PipelineError(
      'stale-epoch',
      `${what}: epoch ${epoch} of ${component} is stale (the component is at epoch ${current})`,
    );
  }

  /**
   * Takes lock `scope` for `ttlMs` if it is free. The TTL frees it when the holder
   * dies; a live holder renews it. Scopes: `export.<component>` (one export of a
   * component at a time), `import.<instance>` (one restore of a fallback at a time).
   */
  async acquireLock(scope: string, ttlMs: number): Promise<RegistryLock | undefined> {
    const key = this.keys.lock(scope);
    const token = randomUUID();
    const taken = await this.redis.set(key, token, 'PX', ttlMs, 'NX');
    if (taken !== 'OK') return undefined;
    return {
      scope,
      renew: () => this.scriptWrote('pullbackRenewLock', [key], [token, ttlMs]),
      release: async () => {
        await this.script('pullbackReleaseLock', [key], [token]);
      },
    };
  }

  /** Records an export's outcome, unless the epoch moved on meanwhile. Returns whether it was written. */
  async recordExport(component: string, epoch: number, record: ExportRecord): Promise<boolean> {
    return this.writeIfEpoch(component, epoch, this.keys.component(component), {
      lastExport: JSON.stringify(record),
    });
  }

  /**
   * Records the component's newest snapshot of the record's kind (`lastSnapshot` or
   * `lastLogicalSnapshot`), unless the epoch moved on or a newer one of that kind is
   * recorded (an older one never replaces a newer), atomically. Returns whether it was written.
   */
  async recordSnapshot(component: string, epoch: number, record: SnapshotRecord): Promise<boolean> {
    return this.scriptWrote(
      'pullbackRecordSnapshot',
      [this.keys.component(component)],
      [
        epoch,
        Date.parse(record.time),
        JSON.stringify(record),
        record.kind === 'logical' ? 'lastLogicalSnapshot' : 'lastSnapshot',
      ],
    );
  }

  /**
   * Records that `snapshotId` is queued for fallback `instance`, unless a newer
   * snapshot was queued already. Returns false only in that case.
   */
  async queueSnapshot(instance: string, snapshotId: string, time: string): Promise<boolean> {
    return this.scriptWrote(
      'pullbackQueueSnapshot',
      [this.keys.instance(instance)],
      [snapshotId, Date.parse(time)],
    );
  }

  /** The time (ms) of the newest snapshot queued for `instance`, if any. */
  async queuedSnapshotTime(instance: string): Promise<number | undefined> {
    const value = await this.redis.hget(this.keys.instance(instance), 'queuedSnapshotTime');
    return value === null ? undefined : Number(value);
  }

  /** Reports where fallback `instance` stands, unless the epoch moved on. */
  async reportFallback(
    component: string,
    instance: string,
    epoch: number,
    state: FallbackState,
  ): Promise<boolean> {
    return this.writeIfEpoch(component, epoch, this.keys.instance(instance), {
      state: JSON.stringify(state),
    });
  }

  /**
   * Replaces fallback `instance`'s reported state with `update` only while it is
   * still `read` (same snapshot, same update time) and the epoch is `epoch`: an
   * update built on a state that a restore has replaced meanwhile is dropped.
   * Returns whether it was written.
   */
  async replaceFallbackState(
    component: string,
    instance: string,
    epoch: number,
    read: FallbackState,
    update: FallbackState,
  ): Promise<boolean> {
    return this.scriptWrote(
      'pullbackReplaceFallbackState',
      [this.keys.component(component), this.keys.instance(instance)],
      [epoch, read.snapshotId ?? '', read.updatedAt, JSON.stringify(update)],
    );
  }

  /**
   * Records whether a snapshot restored and started (good) or not (bad). A good one
   * stays good, atomically: a failure recorded at the same time as the success never
   * wins. Returns false only for a bad one not recorded for that reason.
   */
  async markSnapshot(component: string, snapshotId: string, health: SnapshotHealth): Promise<boolean> {
    return this.scriptWrote(
      'pullbackMarkSnapshot',
      [this.keys.snapshotHealth(component)],
      [snapshotId, health.state, JSON.stringify(health)],
    );
  }

  async snapshotHealth(component: string): Promise<Record<string, SnapshotHealth>> {
    const hash = await this.redis.hgetall(this.keys.snapshotHealth(component));
    return Object.fromEntries(
      Object.entries(hash).map(([id, value]) => [id, JSON.parse(value) as SnapshotHealth]),
    );
  }

  recordFailure(component: string, failure: FailureRecord): Promise<void> {
    return pushCapped(this.redis, this.keys.failures(component), failure, this.failuresKept);
  }

  /** The newest failures first. */
  failures(component: string, count = 10): Promise<FailureRecord[]> {
    return newestOf<FailureRecord>(this.redis, this.keys.failures(component), count);
  }

  /** Records what the WAL receiver of `component` reports (docs/wal.md); not epoch-bound, the receiver follows activations. */
  async reportWalReceiver(component: string, state: WalReceiverState): Promise<void> {
    await this.redis.hset(this.keys.component(component), 'walReceiver', JSON.stringify(state));
  }

  /** Replaces the WAL gaps known for `component` (found by the receiver or a check of the archive). */
  async recordWalGaps(component: string, gaps: readonly WalGap[]): Promise<void> {
    await this.redis.hset(this.keys.component(component), 'walGaps', JSON.stringify(gaps));
  }

  /**
   * Replaces the WAL gaps of `component` with `update(current)`, atomically against
   * any other writer: when the gaps change between the read and the write (the
   * receiver recorded one), `update` runs again on the new ones. Returns the gaps
   * now recorded (undefined for an unknown component).
   */
  async updateWalGaps(
    component: string,
    update: (current: readonly WalGap[]) => readonly WalGap[],
  ): Promise<readonly WalGap[] | undefined> {
    const key = this.keys.component(component);
    for (;;) {
      const read = (await this.redis.hget(key, 'walGaps')) ?? '';
      const current = read === '' ? [] : (JSON.parse(read) as WalGap[]);
      const next = update(current);
      const written = JSON.stringify(next);
      if (written === read) return next;
      const result = await this.script('pullbackReplaceWalGaps', [key], [read, written]);
      if (result === -1) return undefined;
      if (result === 1) return next;
    }
  }

  /**
   * Claims the one restore drill of `snapshotId` for `holder`, for `ttlMs`: false when
   * another agent claimed it (and has not let its claim lapse) or it is done.
   */
  async claimDrill(snapshotId: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.drill(snapshotId), holder, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Marks the drill of `snapshotId` done, for good: no other agent runs it again. */
  async finishDrill(snapshotId: string, holder: string): Promise<void> {
    await this.redis.set(this.keys.drill(snapshotId), `done by ${holder}`);
  }

  private async writeIfEpoch(
    component: string,
    epoch: number,
    key: string,
    fields: Record<string, string>,
  ): Promise<boolean> {
    return this.scriptWrote(
      'pullbackWriteIfEpoch',
      [this.keys.component(component), key],
      [epoch, ...Object.entries(fields).flat()],
    );
  }
}

function parsedField<T>(field: string, value: string | undefined): Record<string, T> {
  return value === undefined || value === '' ? {} : { [field]: JSON.parse(value) as T };
}
