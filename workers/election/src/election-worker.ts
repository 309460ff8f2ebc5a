import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailureDetector, type Observation, type Verdict } from '@pullback/election';
import {
  type ComponentConfig,
  type Config,
  type ElectionSettings,
  electionSettings,
  type InstanceConfig,
  type Pipeline,
  type WalReceivers,
} from '@pullback/pipeline';
import { type ProbeResult, probeServer } from '@pullback/recipe-postgres';
import { resolveAgentToken } from '@pullback/worker-agent';
import { agentActiveAt } from './agent-active-at.js';
import { findInstance } from './agent-addresses.js';
import { AgentClient } from './agent-client.js';
import { type FailoverOutcome, failover } from './failover.js';
import { finishActivation } from './finish-activation.js';
import { inRecovery } from './in-recovery.js';
import { LeaderLease } from './leader-lease.js';
import { readWitnesses } from './witnesses.js';

export interface ElectionOptions {
  /** The queues and registry (an activation re-upserts the export scheduler through them). */
  readonly pipeline: Pipeline;
  /** Who this worker is in the leader lease and the activation history. Default: `<hostname>:<pid>`. */
  readonly holder?: string;
  /** Over the config's `election:` settings. Default: those (docs/election.md "Defaults"). */
  readonly settings?: Partial<ElectionSettings>;
  /** Default: one with the config's agent token. */
  readonly agents?: AgentClient;
  /** The WAL receivers when they run in this process (moved at once after an activation). */
  readonly walReceivers?: WalReceivers;
  /** The probe of an active (signal A). Default: probeServer over TCP as `postgres`. */
  readonly probe?: (instance: InstanceConfig, timeoutMs: number) => Promise<ProbeResult>;
  /** Told of every observation of an active and the verdict on it. */
  readonly onObservation?: (component: string, observation: Observation, verdict: Verdict) => void;
  /** Told of every failover tried. */
  readonly onFailover?: (component: string, outcome: FailoverOutcome) => void;
  /**
   * Leadership changes and failovers, one line each; a failover's `fields` name its
   * component (its epoch, its new active) for the structured log. Default: none.
   */
  readonly log?: (line: string, fields?: { component: string; instance?: string; epoch?: number }) => void;
  /**
   * How long an activation under way elsewhere (a switchover, an `import --activate`:
   * an epoch taken, its new active not named yet) holds failovers off. Past it, that
   * activation is taken for one that died half-way. Default: ACTIVATION_GRACE_MS.
   */
  readonly activationGraceMs?: number;
}

/** See `ElectionOptions.activationGraceMs`: a switchover takes about 2 s; a stuck one is not waited for long. */
export const ACTIVATION_GRACE_MS = 30_000;

/**
 * An activation under way for this long whose candidate's agent reports it active at
 * the registry's epoch, its server promoted, is taken as done, its naming in Redis
 * lost, and finished by the leader at that epoch: much longer than any activation
 * takes between promoting its candidate and naming it (the next step), so it does not
 * race one, and shorter than the grace, after which the dead active would be failed
 * over again at a new epoch and the one just promoted shot down (CI: Redis restarted
 * from a save made just before the failover named shop-b; shop-c followed at epoch 3).
 */
export const LOST_NAMING_MS = 8_000;

export interface RunningElection {
  readonly holder: string;
  /** This worker leads now. */
  leads(): boolean;
  /** Stops watching (an activation under way is aborted) and gives the leader lease up. */
  close(): Promise<void>;
}

/** What the leader knows of one component's active. */
interface Watch {
  readonly detector: FailureDetector;
  active?: string;
  epoch?: number;
  /** Since when an activation has been under way elsewhere (performance.now()). */
  underWaySince?: number;
  /** Since when the active's server has answered that it is a standby (performance.now()). */
  standbySince?: number;
  /** The newest epoch an activation of this worker took and was refused at: not one under way elsewhere. */
  refusedEpoch?: number;
  /** The last failover line logged, and when. */
  lastLine?: string;
  lastLineAt?: number;
}

/**
 * The election worker (docs/election.md "Failure detection"): takes the leader lease
 * or waits to; while it leads, every `probeMs` it probes each watched component's
 * active (signal A) and reads the witnesses (signal B) into a `FailureDetector`, and
 * on `failed` replaces the active (failover.ts), having first confirmed its lease.
 * Watched: postgres components with a fallback that has an agent (only those can be
 * activated). A failover refused is one log line; the detector starts afresh, so the
 * next attempt waits `failoverDelayMs` again.
 */
export async function startElection(config: Config, options: ElectionOptions): Promise<RunningElection> {
  const { pipeline } = options;
  const registry = pipeline.registry;
  const settings: ElectionSettings = { ...electionSettings(config), ...options.settings };
  const holder = options.holder ?? `${hostname()}:${process.pid}`;
  const log = options.log ?? (() => {});
  const watched = Object.entries(config.components).filter(([, component]) => activatable(component));
  const agents =
    options.agents ??
    (watched.length === 0 ? undefined : new AgentClient({ agentToken: await resolveAgentToken(config) }));
  const probe =
    options.probe ??
    ((instance: InstanceConfig, timeoutMs: number) =>
      probeServer({ host: instance.host, port: instance.port }, timeoutMs));
  const lease = new LeaderLease({
    registry,
    holder,
    leaderLeaseMs: settings.leaderLeaseMs,
    clockMarginMs: settings.clockMarginMs,
    // With nothing to watch (no fallback has an agent), leading is not news.
    ...(watched.length === 0 ? {} : { log }),
  });
  const watches = new Map<string, Watch>(
    watched.map(([name]) => [name, { detector: new FailureDetector(settings) }]),
  );
  const stopping = new AbortController();

  const observe = async (name: string, component: ComponentConfig, watch: Watch): Promise<void> => {
    const record = await registry.component(name);
    if (record?.active !== watch.active || record?.epoch !== watch.epoch) {
      // A new active (or none): what was seen of the old one says nothing of it.
      watch.detector.reset();
      watch.active = record?.active;
      watch.epoch = record?.epoch;
    }
    const active = record?.active === undefined ? undefined : findInstance(component, record.active);
    if (record === undefined || active === undefined) return;
    const at = performance.now();
    // An activation under way (a switchover shutting the active down on purpose, an
    // import --activate) took a newer epoch than the one the active took its role at:
    // its own steps replace the active, and a failover now would race it.
    const activeSince = (await registry.instance(active.name))?.epoch;
    if (activeSince !== undefined && record.epoch > activeSince && record.epoch > (watch.refusedEpoch ?? 0)) {
      watch.underWaySince ??= at;
      // Or done, its naming lost: Redis came back without its last writes. Only a
      // candidate already promoted: one still a standby may be an activation catching up.
      const named =
        at - watch.underWaySince >= LOST_NAMING_MS
          ? await agentActiveAt(registry, component, record.epoch, settings.agentSilentMs)
          : undefined;
      const candidate = named === undefined ? undefined : findInstance(component, named);
      if (
        candidate !== undefined &&
        named !== record.active &&
        (await inRecovery(candidate, settings.probeTimeoutMs)) === false
      ) {
        const promoted = candidate.name;
        await act(name, watch, (signal) =>
          finishActivation({
            ...activationOptions(name, signal),
            active: promoted,
            epoch: record.epoch,
            activeLeaseMs: settings.activeLeaseMs,
            reason: 'finishing an activation whose naming in Redis was lost',
          }),
        );
        return;
      }
      if (at - watch.underWaySince < (options.activationGraceMs ?? ACTIVATION_GRACE_MS)) {
        watch.detector.reset();
        return;
      }
    } else {
      watch.underWaySince = undefined;
    }
    const [probed, witnesses, standby] = await Promise.all([
      probe(active, settings.probeTimeoutMs).catch((error: Error) => ({ ok: false, reason: error.message })),
      readWitnesses(registry, record, active.name, settings.agentSilentMs),
      inRecovery(active, settings.probeTimeoutMs),
    ]);
    const observation: Observation = { at, probeOk: probed.ok, ...witnesses };
    const verdict = watch.detector.observe(observation);
    options.onObservation?.(name, observation, verdict);
    // An active still a standby: an activation cut short before its promotion (a registry
    // restored from the instances' records names its candidate). Its agent and server
    // are well, so no failure is declared: held for the delay, the activation is finished.
    watch.standbySince = standby === true ? (watch.standbySince ?? at) : undefined;
    const unfinished =
      watch.standbySince !== undefined && at - watch.standbySince >= settings.failoverDelayMs;
    if (verdict.state !== 'failed' && !unfinished) return;
    await act(name, watch, (signal) =>
      verdict.state === 'failed'
        ? failover({ ...activationOptions(name, signal), failed: active.name, settings })
        : finishActivation({
            ...activationOptions(name, signal),
            active: active.name,
            epoch: record.epoch,
            activeLeaseMs: settings.activeLeaseMs,
          }),
    );
    watch.standbySince = undefined;
  };

  /** What every activation the leader runs is given. */
  const activationOptions = (component: string, signal: AbortSignal) => ({
    pipeline,
    config,
    component,
    by: holder,
    agents: agents as AgentClient,
    ...(options.walReceivers === undefined ? {} : { walReceivers: options.walReceivers }),
    signal,
  });

  /**
   * Runs an activation of component `name` as the leader, logs its outcome and starts
   * the watch afresh. Never while not leading: the lease is renewed and checked first.
   */
  const act = async (
    name: string,
    watch: Watch,
    run: (signal: AbortSignal) => Promise<FailoverOutcome>,
  ): Promise<void> => {
    const signal = lease.termSignal();
    if (signal === undefined || !(await lease.confirm())) return;
    const outcome = await run(signal).catch(
      (error: Error): FailoverOutcome => ({ ok: false, line: `failover of ${name}: ${error.message}` }),
    );
    // A refusal that says the same again (every delay, while no fallback fits) is logged once a minute.
    const now = performance.now();
    if (outcome.ok || outcome.line !== watch.lastLine || now - (watch.lastLineAt ?? 0) > 60_000) {
      log(outcome.line, {
        component: name,
        ...(outcome.ok ? { instance: outcome.to } : {}),
        ...(outcome.epoch === undefined ? {} : { epoch: outcome.epoch }),
      });
      watch.lastLine = outcome.line;
      watch.lastLineAt = now;
    }
    if (!outcome.ok && outcome.epoch !== undefined) watch.refusedEpoch = outcome.epoch;
    options.onFailover?.(name, outcome);
    watch.detector.reset();
  };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const startedAt = performance.now();
      if (lease.holds()) {
        await Promise.all(
          watched.map(([name, component]) =>
            observe(name, component, watches.get(name) as Watch).catch((error: Error) =>
              log(`election: watching ${name}: ${error.message}`),
            ),
          ),
        );
      } else {
        // A new leader starts afresh: it sees both signals hold for the whole delay itself.
        for (const watch of watches.values()) watch.detector.reset();
      }
      const wait = startedAt + settings.probeMs - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal: stopping.signal }).catch(() => {});
    }
  })();
  lease.start();

  return {
    holder,
    leads: () => lease.holds(),
    close: async () => {
      stopping.abort();
      // Ending the term aborts an activation under way, so the loop ends promptly.
      await lease.stop();
      await loop;
    },
  };
}

/** A postgres component with a fallback that has an agent: one the election can activate. */
function activatable(component: ComponentConfig): boolean {
  return (
    component.recipe === 'postgres' &&
    component.instances.some((instance) => instance.role === 'fallback' && instance.agent !== undefined)
  );
}
