import { readFile } from 'node:fs/promises';
import type { Config, InstanceConfig } from '@pullback/pipeline';
import {
  controlData,
  demoteServer,
  postmasterStatus,
  promoteServer,
  query,
  serverAccount,
} from '@pullback/recipe-postgres';
import {
  type AgentServer,
  type AgentServerOptions,
  type InstanceView,
  type StoppedServer,
  startAgentServer,
} from './agent-server.js';
import { type EpochRecord, EpochRecordStore, epochRecordPath } from './epoch-record.js';
import { FailsafePromises, type MonotonicClock } from './failsafe-promises.js';
import { localInstanceView } from './instance-view.js';

/** docs/election.md "Defaults". */
export const DEFAULT_FAILSAFE_MS = 3000;

export interface StartAgentOptions {
  /** How long a failsafe promise holds. Default: DEFAULT_FAILSAFE_MS. */
  readonly failsafeMs?: number;
  readonly clock?: MonotonicClock;
  /** Default: localInstanceView (instance-view.ts). */
  readonly view?: () => InstanceView | Promise<InstanceView>;
  /** Default: `pg_ctl promote` on the instance's data directory. */
  readonly promote?: (epoch: number) => Promise<void>;
  readonly log?: (line: string) => void;
  /** The instance's epoch record. Default: its own, under the config's `stateDir`. */
  readonly record?: EpochRecordStore;
  /** The promises it grants. Default: its own, on `record`. */
  readonly promises?: FailsafePromises;
  /** What `GET /metrics` answers. Default: no /metrics. */
  readonly metrics?: AgentServerOptions['metrics'];
}

/**
 * Serves the agent endpoints of `instanceName` (`pullback up --instance NAME`) at its
 * config's `agent: { port, host }`, with its epoch record under `stateDir`.
 */
export async function startAgent(
  config: Config,
  instanceName: string,
  options: StartAgentOptions = {},
): Promise<AgentServer> {
  const instance = findInstance(config, instanceName);
  if (instance.agent === undefined) {
    throw new Error(
      `instance ${instanceName} has no agent in the config; HINT: add agent: { port: PORT } to it`,
    );
  }
  const agentToken = await resolveAgentToken(config);
  const record = options.record ?? new EpochRecordStore(epochRecordPath(config.stateDir, instance.name));
  return startAgentServer({
    instance: instance.name,
    host: instance.agent.host ?? instance.host,
    port: instance.agent.port,
    agentToken,
    record,
    promises:
      options.promises ??
      new FailsafePromises(record, options.failsafeMs ?? DEFAULT_FAILSAFE_MS, options.clock),
    view: options.view ?? localInstanceView(instance, record),
    // At least the epoch's timeline: two activations never share one (docs/election.md "Timelines").
    promote:
      options.promote ?? ((epoch) => promoteServer({ dataDir: instance.dataDir, timelineFloor: epoch })),
    onRecorded: (recorded) => demoteIfSuperseded(instance, recorded, options.log),
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
}

/**
 * docs/election.md "The epoch": an agent that records an epoch naming another instance
 * active never runs its own as the active again; if its server runs and is not known to
 * be in recovery, it is demoted at once. (postmaster.pid cannot tell: a hot standby
 * says `ready` as a primary does.) A server that cannot answer is demoted too: two
 * actives are worse than a fallback restarted later.
 *
 * Once its server is stopped (by this demotion, by its permission keeper's, or before),
 * the answer says where its WAL ends, read from pg_control: a switchover waits for its
 * target to replay up to there (docs/election.md "Switchover").
 */
async function demoteIfSuperseded(
  instance: InstanceConfig,
  recorded: EpochRecord,
  log: ((line: string) => void) | undefined,
): Promise<{ stopped?: StoppedServer } | undefined> {
  if (recorded.active === instance.name) return undefined;
  const status = await postmasterStatus(instance.dataDir);
  if (status.running) {
    const endpoint = { host: status.socketDir ?? instance.host, port: status.port ?? instance.port };
    const inRecovery = await query(endpoint, 'select pg_is_in_recovery()', {
      as: await serverAccount(),
      statementTimeoutMs: 5000,
    }).catch(() => undefined);
    if (inRecovery === 't') return undefined;
    // Its permission keeper may be demoting it at the same moment (the epoch moved):
    // whichever stops it, what counts below is that it stopped.
    await demoteServer({ dataDir: instance.dataDir, endpoint }).then(
      () => log?.(`demoted ${instance.name}: epoch ${recorded.epoch} names ${recorded.active} active`),
      (error: Error) => log?.(`demoting ${instance.name} at epoch ${recorded.epoch}: ${error.message}`),
    );
    if ((await postmasterStatus(instance.dataDir)).running) return undefined;
  }
  // No data directory (a fallback being reseeded): nothing to tell.
  const stopped = await controlData(instance.dataDir).catch(() => undefined);
  return stopped === undefined ? undefined : { stopped };
}

export function findInstance(config: Config, name: string): InstanceConfig {
  for (const component of Object.values(config.components)) {
    const found = component.instances.find((instance) => instance.name === name);
    if (found !== undefined) return found;
  }
  throw new Error(`no instance ${JSON.stringify(name)} in the config`);
}

/** The config's agentToken, or the first line of its agentTokenFile. */
export async function resolveAgentToken(config: Config): Promise<string> {
  if (config.agentToken !== undefined) return config.agentToken;
  if (config.agentTokenFile === undefined) {
    throw new Error('the config has no agentToken or agentTokenFile; the agents need one');
  }
  const text = await readFile(config.agentTokenFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read agentTokenFile ${config.agentTokenFile}: ${error.code ?? error.message}`);
  });
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < 16)
    throw new Error(`agentTokenFile ${config.agentTokenFile} holds no token of at least 16 characters`);
  return token;
}
