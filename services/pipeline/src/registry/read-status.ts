import type { InstanceRole } from '../config/schema.js';
import { readWriteConnectionString } from '../domain/client-connection.js';
import type { ActiveLease, LeaseHolder } from './leases.js';
import type {
  ActivationRecord,
  AgentHeartbeat,
  ExportRecord,
  FailureRecord,
  FallbackState,
  SnapshotHealth,
  SnapshotRecord,
  WalGap,
  WalReceiverState,
} from './records.js';
import type { Registry } from './registry.js';

/** One instance in `pullback status`. */
export interface InstanceStatus {
  readonly name: string;
  readonly role: InstanceRole;
  readonly epoch: number;
  readonly host: string;
  readonly port: number;
  readonly priority: number;
  /** Fallbacks: what their import agent last reported. */
  readonly state?: FallbackState;
  /** Fallbacks: whether they hold the component's last snapshot. */
  readonly atLastSnapshot?: boolean;
  /**
   * Fallbacks: how far behind the active they are, in seconds: now less the commit
   * time of the last transaction replayed, else less the time of the snapshot held.
   */
  readonly behindSeconds?: number;
  /** Its agent's last heartbeat (docs/election.md), null when no agent ever reported. */
  readonly agent: AgentStatus | null;
}

/** An agent's last heartbeat, and whether it is too old: the agent is silent. */
export interface AgentStatus extends AgentHeartbeat {
  /** No heartbeat for `agentSilentMs` or more (Redis's clock). */
  readonly silent: boolean;
}

export interface SnapshotStatus extends SnapshotRecord {
  readonly ageSeconds: number;
}

/** One component in `pullback status`. */
export interface ComponentStatus {
  readonly name: string;
  readonly recipe: string;
  readonly schedule: string;
  readonly epoch: number;
  readonly active: string | undefined;
  readonly lastExport?: ExportRecord;
  /** The last physical snapshot (the one fallbacks are brought to). */
  readonly lastSnapshot?: SnapshotStatus;
  /** The last logical snapshot, when the component has one. */
  readonly lastLogicalSnapshot?: SnapshotStatus;
  readonly instances: readonly InstanceStatus[];
  /** Snapshots that failed to restore or start on a fallback (and never started elsewhere). */
  readonly badSnapshots: Readonly<Record<string, SnapshotHealth>>;
  /** The newest failures first. */
  readonly failures: readonly FailureRecord[];
  /** Postgres components with WAL: the receiver's last report (docs/wal.md). */
  readonly walReceiver?: WalReceiverState;
  /** Stretches of WAL the archive lacks. */
  readonly walGaps?: readonly WalGap[];
  /** Who holds permission to take writes, and for how long; null when no instance does. */
  readonly activeLease: ActiveLease | null;
  /** The newest activations first (at most `ReadStatusOptions.activations`). */
  readonly activations: readonly ActivationRecord[];
  /**
   * Postgres components: a libpq multi-host URI of every instance, the active first,
   * with `target_session_attrs=read-write` (client-connection.ts).
   */
  readonly connectionString?: string;
}

/** The whole picture, for `pullback status [--json]`. */
export interface PipelineStatus {
  readonly at: string;
  /** The election worker that leads, and how long its lease has left; null when none does. */
  readonly leader: LeaseHolder | null;
  readonly components: readonly ComponentStatus[];
}

export interface ReadStatusOptions {
  /** Failures listed per component. Default: 10. */
  readonly failures?: number;
  /** Activations listed per component. Default: 5. */
  readonly activations?: number;
  /**
   * An agent whose last heartbeat is this old is silent. Default: 2000, the election's
   * `agentSilentMs` (services/election/src/defaults.ts).
   */
  readonly agentSilentMs?: number;
  /** Default: the current time. */
  readonly now?: Date;
}

/** Reads everything `pullback status` shows from the registry. */
export async function readStatus(
  registry: Registry,
  options: ReadStatusOptions = {},
): Promise<PipelineStatus> {
  const now = options.now ?? new Date();
  const agentSilentMs = options.agentSilentMs ?? DEFAULT_AGENT_SILENT_MS;
  const components: ComponentStatus[] = [];
  for (const name of await registry.componentNames()) {
    const component = await registry.component(name);
    if (component === undefined) continue;
    const lastSnapshot = component.lastSnapshot;
    const records = await registry.instances(name);
    const agents = await Promise.all(records.map((instance) => registry.agent(instance.name)));
    const instances = records.map((instance, index): InstanceStatus => {
      const heartbeat = agents[index];
      const base = {
        name: instance.name,
        role: instance.role,
        epoch: instance.epoch,
        host: instance.host,
        port: instance.port,
        priority: instance.priority,
        agent: heartbeat === undefined ? null : { ...heartbeat, silent: heartbeat.ageMs >= agentSilentMs },
      };
      if (instance.role !== 'fallback') return base;
      const state = instance.state;
      const since = state?.replayedAt ?? state?.snapshotTime;
      return {
        ...base,
        ...(state === undefined ? {} : { state }),
        atLastSnapshot: lastSnapshot !== undefined && state?.snapshotId === lastSnapshot.id,
        ...(since === undefined ? {} : { behindSeconds: secondsBetween(since, now) }),
      };
    });
    const health = await registry.snapshotHealth(name);
    const connectionString =
      component.recipe === 'postgres' ? readWriteConnectionString(records, component.active) : undefined;
    components.push({
      name,
      recipe: component.recipe,
      schedule: component.schedule,
      epoch: component.epoch,
      active: component.active,
      ...(component.lastExport === undefined ? {} : { lastExport: component.lastExport }),
      ...(lastSnapshot === undefined
        ? {}
        : {
            lastSnapshot: {
              ...lastSnapshot,
              kind: lastSnapshot.kind ?? 'physical',
              ageSeconds: secondsBetween(lastSnapshot.time, now),
            },
          }),
      ...(component.lastLogicalSnapshot === undefined
        ? {}
        : {
            lastLogicalSnapshot: {
              ...component.lastLogicalSnapshot,
              ageSeconds: secondsBetween(component.lastLogicalSnapshot.time, now),
            },
          }),
      instances,
      badSnapshots: Object.fromEntries(Object.entries(health).filter(([, h]) => h.state === 'bad')),
      failures: await registry.failures(name, options.failures ?? 10),
      ...(component.walReceiver === undefined ? {} : { walReceiver: component.walReceiver }),
      ...(component.walGaps === undefined || component.walGaps.length === 0
        ? {}
        : { walGaps: component.walGaps }),
      activeLease: (await registry.activeLease(name)) ?? null,
      activations: await registry.activations(name, options.activations ?? 5),
      ...(connectionString === undefined ? {} : { connectionString }),
    });
  }
  return { at: now.toISOString(), leader: (await registry.leader()) ?? null, components };
}

/** The election's default `agentSilentMs`: two missed heartbeats (docs/election.md "Defaults"). */
export const DEFAULT_AGENT_SILENT_MS = 2000;

function secondsBetween(time: string, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - Date.parse(time)) / 1000));
}
