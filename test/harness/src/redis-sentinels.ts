import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { ping, redisServerArgs } from './redis.js';
import { infoFields, redisInfo, redisText } from './redis-info.js';
import { scratchDir } from './scratch-dir.js';
import { startServer } from './server-process.js';
import { waitFor } from './wait-for.js';

/** One process of the set, stopped or killed by its PID. */
export interface RedisNode {
  readonly pid: number;
  readonly port: number;
  /** SIGKILL, as a crash or a dead host. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisSentinels {
  /** The master's name the sentinels monitor. */
  readonly name: string;
  /** The server that is the master at the start. */
  readonly primary: RedisNode;
  /** Its replica at the start, which the sentinels promote when the primary dies. */
  readonly replica: RedisNode;
  readonly sentinels: readonly RedisNode[];
  /** The config's `redis` for this set (the Sentinel form). */
  readonly config: {
    readonly sentinels: readonly { readonly host: '127.0.0.1'; readonly port: number }[];
    readonly name: string;
    readonly password?: string;
    readonly sentinelPassword?: string;
  };
  /**
   * A planned failover (`SENTINEL FAILOVER`): the replica is promoted and the old master,
   * still running, becomes its replica. Returns once every sentinel names the replica.
   */
  failover(timeoutMs?: number): Promise<void>;
  /** Waits until every sentinel still running names the server on `port` as the master. */
  waitForMaster(port: number, timeoutMs?: number): Promise<void>;
  /** Stops the sentinels, then the servers. */
  stop(): Promise<void>;
}

export interface RedisSentinelsOptions {
  /** Default: `pullback`. */
  readonly name?: string;
  /** The servers' password (`requirepass`, `masterauth`, the sentinels' `auth-pass`). Default: none. */
  readonly password?: string;
  /** The sentinels' own password. Default: none. */
  readonly sentinelPassword?: string;
  /** How long the master is silent before a sentinel thinks it down. Default: 2 500 ms (Sentinel's: 30 s). */
  readonly downAfterMs?: number;
  /** Sentinel's `failover-timeout`. Default: 6 000 ms (Sentinel's: 3 min). */
  readonly failoverTimeoutMs?: number;
}

const QUORUM = 2;
const SENTINEL_COUNT = 3;

/**
 * Starts Redis Sentinel on 127.0.0.1 free ports: a master, one replica and three
 * sentinels (Debian's `redis-sentinel`) with quorum 2, timed for tests. Resolves once
 * every sentinel sees the master, the replica and the two other sentinels, so that a
 * failover can happen from then on.
 */
export async function startRedisSentinels(options: RedisSentinelsOptions = {}): Promise<RedisSentinels> {
  const name = options.name ?? 'pullback';
  const { password, sentinelPassword } = options;
  const scratch = await scratchDir('redis-sentinels');
  const started: RedisNode[] = [];
  const stopAll = async () => {
    // Sentinels first: servers stopping one by one must not set off a failover.
    for (const node of [...started].reverse()) await node.stop();
    await scratch.remove();
  };
  try {
    const serverCommand = await findExecutable('redis-server', ['/usr/bin', '/usr/local/bin']);
    const sentinelCommand = await findExecutable('redis-sentinel', ['/usr/bin', '/usr/local/bin']);
    const server = (label: string, extraArgs: readonly string[]) =>
      onFreePort((port) =>
        startServer({
          command: serverCommand,
          args: [
            ...redisServerArgs(port, scratch.path, password),
            '--dbfilename',
            `${label}.rdb`,
            ...extraArgs,
          ],
          logFile: join(scratch.path, `${label}.log`),
          isReady: () => ping(port, password),
        }),
      );
    const primary = await server('primary', []);
    started.push(primary);
    const replica = await server('replica', ['--replicaof', '127.0.0.1', String(primary.port)]);
    started.push(replica);
    await waitFor('the replica to sync with the primary', async () =>
      infoFields(await redisInfo(replica.port, 'replication', password)).get('master_link_status') === 'up'
        ? true
        : undefined,
    );

    for (let index = 0; index < SENTINEL_COUNT; index++) {
      const sentinel = await onFreePort(async (port) => {
        const configFile = join(scratch.path, `sentinel-${index}.conf`);
        // Sentinel rewrites its config file as it learns the set: it must be its own, writable.
        await writeFile(configFile, sentinelConfig({ ...options, name, port, masterPort: primary.port }));
        return startServer({
          command: sentinelCommand,
          args: [configFile],
          logFile: join(scratch.path, `sentinel-${index}.log`),
          isReady: () => ping(port, sentinelPassword),
        });
      });
      started.push(sentinel);
    }
    const sentinels = started.slice(2);

    const waitForMaster = async (port: number, timeoutMs = 60_000) => {
      await waitFor(
        `every sentinel to name 127.0.0.1:${port} the master`,
        async () => {
          const views = await Promise.all(
            sentinels.map((sentinel) => masterView(sentinel.port, sentinelPassword).catch(() => undefined)),
          );
          const live = views.filter((view) => view !== undefined);
          return live.length > 0 && live.every((view) => view.address === `127.0.0.1:${port}`)
            ? true
            : undefined;
        },
        timeoutMs,
      );
    };
    // Sentinels find the replica in the master's INFO (every 10 s) and each other by
    // hello messages (every 2 s): until then, a dead master would not be failed over.
    await waitFor('every sentinel to see the master, the replica and the other sentinels', async () => {
      const views = await Promise.all(
        sentinels.map((sentinel) => masterView(sentinel.port, sentinelPassword)),
      );
      return views.every(
        (view) =>
          view.status === 'ok' &&
          view.address === `127.0.0.1:${primary.port}` &&
          view.slaves === '1' &&
          view.sentinels === String(SENTINEL_COUNT),
      )
        ? true
        : undefined;
    });

    return {
      name,
      primary,
      replica,
      sentinels,
      config: {
        sentinels: sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
        name,
        ...(password === undefined ? {} : { password }),
        ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
      },
      waitForMaster,
      failover: async (timeoutMs = 60_000) => {
        const answer = await redisText(
          sentinels[0]?.port ?? 0,
          `SENTINEL FAILOVER ${name}`,
          sentinelPassword,
        );
        if (answer !== 'OK') throw new Error(`SENTINEL FAILOVER ${name}: ${answer}`);
        await waitForMaster(replica.port, timeoutMs);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function sentinelConfig(
  options: RedisSentinelsOptions & { name: string; port: number; masterPort: number },
): string {
  const { name } = options;
  return [
    `port ${options.port}`,
    'bind 127.0.0.1',
    'daemonize no',
    'sentinel resolve-hostnames no',
    `sentinel monitor ${name} 127.0.0.1 ${options.masterPort} ${QUORUM}`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 2500}`,
    `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 6000}`,
    `sentinel parallel-syncs ${name} 1`,
    ...(options.password === undefined ? [] : [`sentinel auth-pass ${name} ${options.password}`]),
    // Sentinels talk to each other too: with a password of their own, they need it for that.
    ...(options.sentinelPassword === undefined
      ? []
      : [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`]),
    '',
  ].join('\n');
}

/** A sentinel's view of its one master (`INFO sentinel`'s `master0`: name, status, address, slaves, sentinels). */
async function masterView(port: number, password: string | undefined): Promise<Record<string, string>> {
  const line = infoFields(await redisInfo(port, 'sentinel', password)).get('master0') ?? '';
  return Object.fromEntries(line.split(',').map((pair) => pair.split('=', 2) as [string, string]));
}

/** Starts a process on a free port, trying another port when the first is taken meanwhile. */
async function onFreePort(
  launch: (port: number) => Promise<{ pid: number; stop(): Promise<void>; kill(): Promise<void> }>,
): Promise<RedisNode> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const { pid, stop, kill } = await launch(port);
      return { pid, port, stop, kill };
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}
