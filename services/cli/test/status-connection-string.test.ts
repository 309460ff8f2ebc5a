import { execFile } from 'node:child_process';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  type RunningServer,
  scratchDir,
  startPostgres,
  startRedis,
  startServer,
} from '@pullback/harness';
import { connectRedis, parseConfig, type Redis, Registry, readStatus } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatus } from '../src/status-view.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;
let connection: Redis;
let primary: PostgresServer;
let standby: RunningServer;
let scratch: { path: string; remove(): Promise<void> };
let namespace = 0;

/** A hot standby of `primary`: pg_basebackup -R into a directory, started on its own port. */
async function startStandbyOf(server: PostgresServer): Promise<RunningServer> {
  const owner = await postgresOwner();
  const asOwner = owner === undefined ? {} : { uid: owner.uid, gid: owner.gid };
  const dataDir = join(scratch.path, 'standby');
  const socketDir = join(scratch.path, 'socket');
  await mkdir(socketDir);
  if (owner !== undefined) {
    await chown(scratch.path, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  await execFileAsync(
    join(server.binDir, 'pg_basebackup'),
    ['-D', dataDir, '-R', '-X', 'stream', '-d', server.connectionString()],
    asOwner,
  );
  const port = await freePort();
  const running = await startServer({
    command: join(server.binDir, 'postgres'),
    args: ['-D', dataDir, '-p', String(port), '-k', socketDir],
    spawnOptions: asOwner,
    logFile: join(scratch.path, 'standby.log'),
    isReady: async () => {
      await execFileAsync(join(server.binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]);
      return true;
    },
    stopSignal: 'SIGINT',
  });
  return { pid: running.pid, host: '127.0.0.1', port, stop: () => running.stop() };
}

beforeAll(async () => {
  [redis, primary, scratch] = await Promise.all([
    startRedis(),
    startPostgres(),
    scratchDir('cli-status-connection-string'),
  ]);
  connection = connectRedis(redis.url);
  standby = await startStandbyOf(primary);
}, 180_000);

afterAll(async () => {
  await connection?.quit();
  await standby?.stop();
  await primary?.stop();
  await redis?.stop();
  await scratch?.remove();
});

/** The connection string `pullback status` prints for `instances`, the first of them the active. */
async function statusConnectionString(instances: readonly { name: string; port: number }[]): Promise<string> {
  const [first, ...rest] = instances;
  const registry = new Registry(connection, {
    prefix: `pullback-test-status-connection-${process.pid}-${namespace++}`,
  });
  await registry.registerConfig(
    parseConfig(`
redis: ${redis.url}
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: ${first?.name}, role: active, host: 127.0.0.1, port: ${first?.port}, dataDir: /srv/a, priority: 10 }
${rest
  .map(
    (instance, index) =>
      `      - { name: ${instance.name}, role: fallback, host: 127.0.0.1, port: ${instance.port}, dataDir: /srv/${index}, priority: ${90 - index * 10} }`,
  )
  .join('\n')}
`),
  );
  const status = await readStatus(registry);
  const shop = status.components.find((component) => component.name === 'shop');
  const text = renderStatus({ ...status, queues: {}, nextExports: {}, running: [] });
  expect(text.split('\n')).toContain(`  connect        ${shop?.connectionString}`);
  if (shop?.connectionString === undefined) throw new Error('status gave shop no connection string');
  return shop.connectionString;
}

/** What psql, given `conninfo`, reaches: the server's port and whether it is in recovery. */
async function psqlReaches(conninfo: string): Promise<string> {
  const { stdout } = await execFileAsync(
    join(primary.binDir, 'psql'),
    ['-X', '-A', '-t', '-q', '-d', conninfo, '-c', 'select inet_server_port(), pg_is_in_recovery()'],
    { env: { ...process.env, PGUSER: 'postgres', PGCONNECT_TIMEOUT: '10' } },
  );
  return stdout.trim();
}

describe("status's connection string takes a libpq client to the writable instance", () => {
  it('past a standby listed first', { timeout: 60_000 }, async () => {
    const conninfo = await statusConnectionString([
      { name: 'shop-a', port: standby.port },
      { name: 'shop-b', port: primary.port },
    ]);
    expect(conninfo).toBe(
      `postgresql://127.0.0.1:${standby.port},127.0.0.1:${primary.port}/postgres?target_session_attrs=read-write`,
    );
    expect(await psqlReaches(conninfo)).toBe(`${primary.port}|f`);
    // Without target_session_attrs the same hosts give the standby: the parameter is what finds the writable one.
    expect(await psqlReaches(conninfo.replace(/\?.*$/, ''))).toBe(`${standby.port}|t`);
  });

  it('past a host that is down, then a standby', { timeout: 60_000 }, async () => {
    const down = await freePort();
    const conninfo = await statusConnectionString([
      { name: 'shop-a', port: down },
      { name: 'shop-b', port: standby.port },
      { name: 'shop-c', port: primary.port },
    ]);
    expect(conninfo).toBe(
      `postgresql://127.0.0.1:${down},127.0.0.1:${standby.port},127.0.0.1:${primary.port}/postgres?target_session_attrs=read-write`,
    );
    expect(await psqlReaches(conninfo)).toBe(`${primary.port}|f`);
  });
});
