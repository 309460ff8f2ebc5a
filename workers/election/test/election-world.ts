import { execFile } from 'node:child_process';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisSentinels,
  type RedisServer,
  scratchDir,
  startPostgres,
  waitFor,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { closePools, query, startStandby, stopServer } from '@pullback/recipe-postgres';
import { type AgentRuntime, openAgentRegistry, startAgentRuntime } from '@pullback/worker-agent';

const execFileAsync = promisify(execFile);

export const AGENT_TOKEN = 'election-test-token-0123';

/** Waits in these tests allow for a loaded machine. */
export const waitLong = <T>(what: string, check: () => Promise<T | undefined>) =>
  waitFor(what, check, 120_000);

export interface Member {
  readonly name: 'shop-a' | 'shop-b' | 'shop-c';
  readonly port: number;
  readonly dataDir: string;
  readonly agentPort: number;
}

/**
 * A component `shop` as users deploy it: an active (shop-a, the harness's server) and
 * two fallbacks streaming from it (shop-b, priority 50; shop-c, priority 40), each with
 * its agent's whole runtime (endpoints, permission keeper, heartbeat, supervision)
 * running in this process on a registry connection of its own, as `up --instance`
 * runs it. The shape of services/cli/test/activation-world.ts, with live agents.
 */
export interface ElectionWorld {
  readonly active: PostgresServer;
  readonly members: { readonly a: Member; readonly b: Member; readonly c: Member };
  readonly config: Config;
  /** The config as a file, for a `pullback` process of the test's. */
  readonly configPath: string;
  readonly pipeline: Pipeline;
  /** Stops an instance's agent (its heartbeat and lease renewals end); its server is left as it is. */
  stopAgent(name: Member['name']): Promise<void>;
  /** What the agents logged (a demotion, a promotion), for the tests to check. */
  readonly agentLines: readonly string[];
  /** Reports a fallback healthy at its replayed position, as its import agent does. */
  reportHealthy(name: 'shop-b' | 'shop-c'): Promise<void>;
  /** A write on the active, replayed by both fallbacks. */
  writeAndSettle(status: string): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** The config's `election:` settings, as YAML flow (`{ maxLagBytes: 65536 }`). */
  readonly election?: string;
  /** The component's `fence` command (a test holds activations at the fence with one). */
  readonly fence?: string;
}

export async function electionWorld(
  redis: Pick<RedisServer, 'url'> | Pick<RedisSentinels, 'config'>,
  label: string,
  options: WorldOptions = {},
): Promise<ElectionWorld> {
  const scratch = await scratchDir(label);
  const root = scratch.path;
  const owner = await postgresOwner();
  const socketDir = join(root, 'socket');
  await mkdir(socketDir);
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const active = await startPostgres({ settings: { wal_keep_size: "'256MB'" } });
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  const a: Member = {
    name: 'shop-a',
    port: active.port,
    dataDir: active.dataDir,
    agentPort: await freePort(),
  };
  const standby = async (name: 'shop-b' | 'shop-c'): Promise<Member> => {
    const dataDir = join(root, name);
    await execFileAsync(
      join(active.binDir, 'pg_basebackup'),
      ['-h', '127.0.0.1', '-p', String(active.port), '-U', 'postgres', '-D', dataDir, '-X', 'stream'],
      owner === undefined ? {} : { uid: owner.uid, gid: owner.gid },
    );
    const port = await freePort();
    await startStandby({
      dataDir,
      port,
      listenAddresses: '127.0.0.1',
      socketDir,
      logFile: join(root, `${name}.log`),
      primary: { host: '127.0.0.1', port: active.port },
      verify: false,
      timeoutSeconds: 120,
    });
    return { name, port, dataDir, agentPort: await freePort() };
  };
  const b = await standby('shop-b');
  const c = await standby('shop-c');
  const line = (m: Member, role: string, priority: number) =>
    `      - { name: ${m.name}, role: ${role}, host: 127.0.0.1, port: ${m.port}, dataDir: ${m.dataDir}, priority: ${priority}, agent: { port: ${m.agentPort}, host: 127.0.0.1 } }`;
  // The Sentinel form as YAML's flow style (JSON).
  const redisValue = 'url' in redis ? redis.url : JSON.stringify(redis.config);
  const configText = `redis: ${redisValue}
archive: { url: ${join(root, 'archive')} }
stateDir: ${join(root, 'state')}
agentToken: ${AGENT_TOKEN}
${options.election === undefined ? '' : `election: ${options.election}`}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
${options.fence === undefined ? '' : `    fence: ${JSON.stringify(options.fence)}`}
    instances:
${line(a, 'active', 100)}
${line(b, 'fallback', 50)}
${line(c, 'fallback', 40)}
`;
  const config = parseConfig(configText);
  const configPath = join(root, 'pullback.yaml');
  await writeFile(configPath, configText);
  const pipeline = openPipeline({ redis: config.redis });
  await pipeline.register(config);

  const agents = new Map<string, { runtime: AgentRuntime; close(): Promise<void> }>();
  const agentLines: string[] = [];
  for (const m of [a, b, c]) {
    const connection = openAgentRegistry(config.redis);
    const runtime = await startAgentRuntime(config, m.name, {
      registry: connection.registry,
      log: (line) => agentLines.push(`${m.name}: ${line}`),
    });
    agents.set(m.name, {
      runtime,
      close: async () => {
        await runtime.close();
        await connection.close();
      },
    });
  }
  const stopAgent = async (name: string) => {
    await agents.get(name)?.close();
    agents.delete(name);
  };

  const reportHealthy = async (name: 'shop-b' | 'shop-c') => {
    const m = name === 'shop-b' ? b : c;
    const lsn = await query({ host: '127.0.0.1', port: m.port }, 'select pg_last_wal_replay_lsn()');
    await pipeline.registry.reportFallback('shop', name, 1, {
      lsn,
      running: true,
      source: 'streaming',
      timeline: 1,
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
  };

  const writeAndSettle = async (status: string) => {
    await active.psql(`update marker set status = '${status}'`);
    await waitLong('both fallbacks at the active end', async () => {
      const end = await active.psql('select pg_current_wal_lsn()');
      const positions = await Promise.all([b.port, c.port].map(replayed));
      return positions.every((p) => p === end) ? true : undefined;
    });
  };

  return {
    active,
    members: { a, b, c },
    config,
    configPath,
    pipeline,
    stopAgent,
    agentLines,
    reportHealthy,
    writeAndSettle,
    close: async () => {
      for (const name of [...agents.keys()]) await stopAgent(name).catch(() => {});
      await pipeline.close().catch(() => {});
      for (const m of [b, c]) await stopServer({ dataDir: m.dataDir }).catch(() => {});
      await active.stop().catch(() => {});
      await closePools().catch(() => {});
      await scratch.remove().catch(() => {});
    },
  };
}

/** Whether the server at `port` takes writes now: not in recovery and not made read-only; false when it does not answer. */
export async function isWritable(port: number): Promise<boolean> {
  const answer = await query(
    { host: '127.0.0.1', port },
    "select not pg_is_in_recovery() and current_setting('default_transaction_read_only') = 'off'",
    { statementTimeoutMs: 3000, signal: AbortSignal.timeout(5000) },
  ).catch(() => 'f');
  return answer === 't';
}

/** The WAL position `port` has replayed (a standby) or written (a primary). */
export function replayed(port: number): Promise<string> {
  return query(
    { host: '127.0.0.1', port },
    'select case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end',
  );
}

/**
 * Polls every instance's writability until stopped, in rounds; `overlaps` counts
 * rounds in which more than one took writes (the safety rule says: never).
 */
export function watchWritable(ports: readonly number[]): {
  stop(): Promise<{ rounds: number; overlaps: number }>;
} {
  let stopped = false;
  let rounds = 0;
  let overlaps = 0;
  const loop = (async () => {
    while (!stopped) {
      const writable = await Promise.all(ports.map(isWritable));
      rounds++;
      if (writable.filter(Boolean).length > 1) overlaps++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { rounds, overlaps };
    },
  };
}
