import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFile, chown, mkdir, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initArchive } from '@pullback/archive';
import {
  freePort,
  postgresBinDir,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startRedis,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { closePools, startStandby, stopServer } from '@pullback/recipe-postgres';
import { type AgentRuntime, openAgentRegistry, startAgentRuntime } from '@pullback/worker-agent';
import { MAIN } from './run-cli.js';

const execFileAsync = promisify(execFile);

/**
 * A component `shop` split across two Linux network namespaces on this machine: the
 * active (shop-a: its PostgreSQL and its agent, `pullback up --instance shop-a`) inside
 * namespace `ns`, reached through a veth pair; Redis, the fallbacks shop-b and shop-c,
 * their agents and the test's election in the root namespace, on an address of `lo`
 * (`hub`) that the namespace routes to through the veth. `partition()` sets the veth
 * down: the active is cut off from Redis and every other host, and they from it.
 */
export interface PartitionWorld {
  readonly ns: string;
  /** The active's address inside the namespace. */
  readonly activeHost: string;
  readonly ports: { readonly a: number; readonly b: number; readonly c: number };
  readonly config: Config;
  readonly pipeline: Pipeline;
  /** What shop-a's agent process and the fallbacks' agents printed. */
  output(): string;
  /** Throws when shop-a's agent process has exited (a wait on it would only time out). */
  agentAlive(): void;
  partition(): Promise<void>;
  /** SQL on shop-a from inside its namespace (where the partition does not reach). */
  psqlInside(sql: string): Promise<string>;
  close(): Promise<void>;
}

export const PARTITION_TOKEN = 'partition-test-token-0123';

const run = (command: string, args: readonly string[]) => execFileAsync(command, [...args]);

export async function partitionWorld(label: string): Promise<PartitionWorld> {
  const tag = String(process.pid % 100_000);
  const ns = `pbpart${tag}`;
  const outside = `pbr${tag}`;
  const inside = `pbn${tag}`;
  const net = `10.254.${process.pid % 250}`;
  const hub = `${net}.9`;
  const activeHost = `${net}.2`;
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    // Each step bounded, so that one hung by the partition does not leave the namespace behind.
    for (const cleanup of cleanups.splice(0).reverse())
      await Promise.race([cleanup().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 20_000))]);
  };
  const lines: string[] = [];
  try {
    await run('ip', ['netns', 'add', ns]);
    cleanups.push(() => run('ip', ['netns', 'del', ns]));
    await run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
    cleanups.push(() => run('ip', ['link', 'del', outside]));
    await run('ip', ['link', 'set', inside, 'netns', ns]);
    await run('ip', ['addr', 'add', `${net}.1/30`, 'dev', outside]);
    await run('ip', ['link', 'set', outside, 'up']);
    await run('ip', ['addr', 'add', `${hub}/32`, 'dev', 'lo']);
    cleanups.push(() => run('ip', ['addr', 'del', `${hub}/32`, 'dev', 'lo']));
    const inNs = (args: readonly string[]) => run('ip', ['netns', 'exec', ns, ...args]);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);
    await inNs(['ip', 'addr', 'add', `${activeHost}/30`, 'dev', inside]);
    await inNs(['ip', 'link', 'set', inside, 'up']);
    await inNs(['ip', 'route', 'add', 'default', 'via', `${net}.1`]);

    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const redisProxy = await forward(hub, redis);
    cleanups.push(() => new Promise((resolve) => redisProxy.close(resolve)));
    const redisUrl = `redis://${hub}:${(redisProxy.address() as { port: number }).port}`;

    const scratch = await scratchDir(label);
    cleanups.push(() => scratch.remove());
    const root = scratch.path;
    const owner = await postgresOwner();
    const socketDir = join(root, 'socket');
    await mkdir(socketDir);
    if (owner) {
      await chown(root, owner.uid, owner.gid);
      await chown(socketDir, owner.uid, owner.gid);
    }
    const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
    const binDir = await postgresBinDir();

    // shop-a: made here, started inside the namespace as the postgres user.
    const aDir = join(root, 'shop-a');
    await execFileAsync(
      join(binDir, 'initdb'),
      ['-D', aDir, '-U', 'postgres', '--auth=trust', '--data-checksums', '--locale=C'],
      { ...asOwner, cwd: root },
    );
    const aPort = await freePort();
    await appendFile(
      join(aDir, 'postgresql.conf'),
      `\nlisten_addresses = '${activeHost}'\nport = ${aPort}\nunix_socket_directories = '${socketDir}'\nwal_level = replica\nmax_wal_senders = 10\nhot_standby = on\nfsync = off\nwal_keep_size = '256MB'\n`,
    );
    await appendFile(
      join(aDir, 'pg_hba.conf'),
      `\nhost all all ${net}.0/24 trust\nhost replication all ${net}.0/24 trust\n`,
    );
    const pgCtlInside = (args: readonly string[]) =>
      inNs(['runuser', '-u', 'postgres', '--', join(binDir, 'pg_ctl'), '-D', aDir, ...args]);
    await pgCtlInside(['-l', join(root, 'shop-a.log'), '-w', '-t', '120', 'start']);
    cleanups.push(() => pgCtlInside(['-m', 'immediate', '-w', 'stop']));
    const psqlInside = async (sql: string) =>
      (
        await inNs([
          'timeout',
          '10',
          join(binDir, 'psql'),
          '-X',
          '-A',
          '-t',
          '-q',
          '-v',
          'ON_ERROR_STOP=1',
          '-d',
          `postgresql://postgres@${activeHost}:${aPort}/postgres?connect_timeout=5`,
          '-c',
          sql,
        ])
      ).stdout.trim();
    await psqlInside(`create table marker (status text); insert into marker values ('first')`);

    // shop-b and shop-c: standbys in the root namespace, streaming from shop-a through the veth.
    const standby = async (name: string) => {
      const dataDir = join(root, name);
      await execFileAsync(
        join(binDir, 'pg_basebackup'),
        ['-h', activeHost, '-p', String(aPort), '-U', 'postgres', '-D', dataDir, '-X', 'stream'],
        { ...asOwner, cwd: root },
      );
      const port = await freePort();
      await startStandby({
        dataDir,
        port,
        listenAddresses: '127.0.0.1',
        socketDir,
        logFile: join(root, `${name}.log`),
        primary: { host: activeHost, port: aPort },
        verify: false,
        timeoutSeconds: 120,
      });
      cleanups.push(() => stopServer({ dataDir }));
      return { dataDir, port };
    };
    const b = await standby('shop-b');
    const c = await standby('shop-c');
    const agentPorts = { a: await freePort(), b: await freePort(), c: await freePort() };
    await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') });
    const configText = `redis: ${redisUrl}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state')}
agentToken: ${PARTITION_TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: ${activeHost}, port: ${aPort}, dataDir: ${aDir}, priority: 100, agent: { port: ${agentPorts.a}, host: ${activeHost} } }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${b.port}, dataDir: ${b.dataDir}, priority: 50, agent: { port: ${agentPorts.b}, host: ${hub} } }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: ${c.port}, dataDir: ${c.dataDir}, priority: 40, agent: { port: ${agentPorts.c}, host: ${hub} } }
`;
    const configPath = join(root, 'pullback.yaml');
    await writeFile(configPath, configText);
    const config = parseConfig(configText);
    const pipeline = openPipeline({ redis: config.redis });
    cleanups.push(() => pipeline.close());
    cleanups.push(() => closePools());
    await pipeline.register(config);

    for (const name of ['shop-b', 'shop-c'] as const) {
      const connection = openAgentRegistry(config.redis);
      let runtime: AgentRuntime | undefined;
      cleanups.push(async () => {
        await runtime?.close();
        await connection.close();
      });
      runtime = await startAgentRuntime(config, name, {
        registry: connection.registry,
        log: (line) => lines.push(`${name}: ${line}`),
      });
    }

    // shop-a's agent: its own process inside the namespace, as its host would run it.
    const agent: ChildProcess = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, MAIN, 'up', '--config', configPath, '--instance', 'shop-a'],
      { env: { ...process.env, PULLBACK_PG_SOCKET_DIR: socketDir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(async () => {
      if (agent.exitCode === null && agent.signalCode === null) {
        const exited = new Promise((resolve) => agent.once('exit', resolve));
        agent.kill('SIGKILL');
        await exited;
      }
    });
    const read = (chunk: Buffer) => lines.push(`shop-a: ${chunk.toString().trimEnd()}`);
    agent.stdout?.on('data', read);
    agent.stderr?.on('data', read);

    return {
      ns,
      activeHost,
      ports: { a: aPort, b: b.port, c: c.port },
      config,
      pipeline,
      output: () => lines.join('\n'),
      agentAlive: () => {
        if (agent.exitCode !== null || agent.signalCode !== null)
          throw new Error(
            `shop-a's agent exited: ${lines.filter((line) => line.startsWith('shop-a')).join(' ')}`,
          );
      },
      partition: async () => {
        await run('ip', ['link', 'set', outside, 'down']);
      },
      psqlInside,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A TCP forwarder on `host` (a free port) to the Redis on loopback: Redis binds 127.0.0.1 only. */
async function forward(host: string, redis: RedisServer): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: redis.port });
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  // A client cut off by the partition never closes its end: closing waits for none.
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return server;
}
