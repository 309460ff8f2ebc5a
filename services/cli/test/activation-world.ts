import { execFile } from 'node:child_process';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseLsn } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  waitFor,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { closePools, query, startStandby, stopServer } from '@pullback/recipe-postgres';
import { type AgentServer, startAgent } from '@pullback/worker-agent';

const execFileAsync = promisify(execFile);

export const AGENT_TOKEN = 'activation-test-token-0123';

/** Waits in these tests allow for a loaded machine. */
export const waitLong = <T>(what: string, check: () => Promise<T | undefined>) =>
  waitFor(what, check, 120_000);

export interface Member {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly agentPort: number;
}

/**
 * A component `shop` with an active (shop-a, the harness's server) and two fallbacks
 * streaming from it (shop-b, shop-c: base backups started as hot standbys), each with
 * its agent running in this process, registered in the test's own Redis.
 */
export interface ActivationWorld {
  readonly active: PostgresServer;
  readonly members: { readonly a: Member; readonly b: Member; readonly c: Member };
  readonly configPath: string;
  readonly config: Config;
  /** The config's YAML with shop-c at `priority`. */
  yamlWith(options: { cPriority: number }): string;
  readonly root: string;
  readonly pipeline: Pipeline;
  readonly agents: Map<string, AgentServer>;
  /** Reports a fallback healthy at its replayed position, as its import agent does. */
  reportHealthy(name: 'shop-b' | 'shop-c', lsn?: string): Promise<void>;
  /**
   * Reports both fallbacks healthy at the same position, the lesser of their replayed
   * ones (each has replayed at least that): the choice then falls to priority, shop-b. Read
   * one after the other, shop-c's position was newer whenever the active wrote between the
   * two reads, and a switchover "to the best fallback" went to shop-c (CI, session 17).
   */
  reportFallbacksHealthy(): Promise<void>;
  close(): Promise<void>;
}

export async function activationWorld(redis: RedisServer, label: string): Promise<ActivationWorld> {
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
  const member = async (name: string, port: number, dataDir: string): Promise<Member> => ({
    name,
    port,
    dataDir,
    agentPort: await freePort(),
  });
  const a = await member('shop-a', active.port, active.dataDir);
  const standbys: Member[] = [];
  for (const letter of ['b', 'c']) {
    const dataDir = join(root, letter);
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
      logFile: join(root, `${letter}.log`),
      primary: { host: '127.0.0.1', port: active.port },
      verify: false,
      timeoutSeconds: 120,
    });
    standbys.push(await member(`shop-${letter}`, port, dataDir));
  }
  const [b, c] = standbys as [Member, Member];
  const line = (m: Member, role: string, priority: number) =>
    `      - { name: ${m.name}, role: ${role}, host: 127.0.0.1, port: ${m.port}, dataDir: ${m.dataDir}, priority: ${priority}, agent: { port: ${m.agentPort}, host: 127.0.0.1 } }`;
  const yamlWith = ({ cPriority }: { cPriority: number }) => `redis: ${redis.url}
archive: { url: ${join(root, 'archive')} }
stateDir: ${join(root, 'state')}
agentToken: ${AGENT_TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
${line(a, 'active', 100)}
${line(b, 'fallback', 50)}
${line(c, 'fallback', cPriority)}
`;
  const configPath = join(root, 'pullback.yaml');
  await writeFile(configPath, yamlWith({ cPriority: 40 }));
  const config = parseConfig(yamlWith({ cPriority: 40 }), configPath);
  const pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(config);
  const agents = new Map<string, AgentServer>();
  for (const m of [a, b, c]) agents.set(m.name, await startAgent(config, m.name));

  const replayed = (m: Member) =>
    query({ host: '127.0.0.1', port: m.port }, 'select pg_last_wal_replay_lsn()');
  const reportHealthy = async (name: 'shop-b' | 'shop-c', at?: string) => {
    const lsn = at ?? (await replayed(name === 'shop-b' ? b : c));
    await pipeline.registry.reportFallback('shop', name, 1, {
      lsn,
      running: true,
      source: 'streaming',
      timeline: 1,
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
  };

  return {
    active,
    members: { a, b, c },
    configPath,
    config,
    yamlWith,
    root,
    pipeline,
    agents,
    reportHealthy,
    reportFallbacksHealthy: async () => {
      const [onB, onC] = await Promise.all([replayed(b), replayed(c)]);
      const lesser = parseLsn(onB) <= parseLsn(onC) ? onB : onC;
      await reportHealthy('shop-b', lesser);
      await reportHealthy('shop-c', lesser);
    },
    close: async () => {
      for (const agent of agents.values()) await agent.close().catch(() => {});
      await pipeline.close().catch(() => {});
      // shop-a too: a test may have started it again (pg_ctl) after the harness's process stopped.
      for (const m of [a, b, c]) await stopServer({ dataDir: m.dataDir }).catch(() => {});
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

/** Holds shop-a's active lease at epoch 1, as the active's permission keeper does, until stopped. */
export function holdLease(w: ActivationWorld): { stop(): void } {
  let stopped = false;
  const ttl = 3000;
  void (async () => {
    await w.pipeline.registry.acquireActiveLease('shop', 'shop-a', 1, ttl);
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (!stopped) await w.pipeline.registry.renewActiveLease('shop', 'shop-a', 1, ttl).catch(() => {});
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

/** A write on the active, seen by both fallbacks, at the same replayed position as the active's end. */
export async function writeAndSettle(w: ActivationWorld, status: string): Promise<string> {
  await w.active.psql(`update marker set status = '${status}'`);
  return waitLong('both fallbacks at the active end', async () => {
    const end = await w.active.psql('select pg_current_wal_lsn()');
    const positions = await Promise.all([w.members.b.port, w.members.c.port].map(replayed));
    const seen = await Promise.all(
      [w.members.b.port, w.members.c.port].map((port) =>
        query({ host: '127.0.0.1', port }, 'select status from marker'),
      ),
    );
    return positions.every((p) => p === end) && seen.every((s) => s === status) ? end : undefined;
  });
}

/** The active's host dies: its server killed, its lease left to lapse. */
export async function killActive(w: ActivationWorld, renewing: { stop(): void }): Promise<void> {
  renewing.stop();
  await w.active.crash();
  await waitLong('the active lease lapsed', async () =>
    (await w.pipeline.registry.activeLease('shop')) === undefined ? true : undefined,
  );
}
