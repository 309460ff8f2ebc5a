import { execFile } from 'node:child_process';
import { access, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import {
  closePools,
  postmasterStatus,
  promoteServer,
  query,
  startStandby,
  stopServer,
} from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejoinOldActive } from '../src/index.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;
let a: PostgresServer;
let b: { dataDir: string; port: number };
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let pipeline: Pipeline;

beforeAll(async () => {
  redis = await startRedis();
  scratch = await scratchDir('rejoin-old-active');
  const owner = await postgresOwner();
  if (owner) await chown(scratch.path, owner.uid, owner.gid);
  a = await startPostgres();
  pipeline = openPipeline({ redis: redis.url });
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  await closePools();
  if (b !== undefined) await stopServer({ dataDir: b.dataDir }).catch(() => {});
  await stopServer({ dataDir: a.dataDir }).catch(() => {});
  await a?.stop();
  await redis?.stop();
  await scratch?.remove();
}, 120_000);

/** B: a streaming standby of A in a directory of its own. */
async function standbyOfA(): Promise<{ dataDir: string; port: number }> {
  const owner = await postgresOwner();
  const dir = join(scratch.path, 'b');
  const socketDir = join(dir, 'socket');
  await mkdir(socketDir, { recursive: true });
  if (owner) {
    await chown(dir, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const dataDir = join(dir, 'data');
  await execFileAsync(
    join(a.binDir, 'pg_basebackup'),
    ['-D', dataDir, '-d', a.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: dir },
  );
  const port = await freePort();
  await startStandby({
    dataDir,
    port,
    listenAddresses: '127.0.0.1',
    socketDir,
    primary: { host: '127.0.0.1', port: a.port },
    timeoutSeconds: 120,
  });
  return { dataDir, port };
}

describe("a switchover's old active on this host", () => {
  it('is left to whoever holds its import lock (its agent rewinding it, an import), then follows the new active once the lock is free', async () => {
    b = await standbyOfA();
    await a.psql("create table orders (id int, origin text); insert into orders values (1, 'a')");
    await waitFor('B to replay A', async () =>
      (await query({ host: '127.0.0.1', port: b.port }, 'select count(*) from orders').catch(() => '')) ===
      '1'
        ? true
        : undefined,
    );
    // The switchover's first steps: A shut down cleanly (its WAL sender waits for B's flush), B promoted.
    await stopServer({ dataDir: a.dataDir });
    await promoteServer({ dataDir: b.dataDir });
    const config = parseConfig(
      `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${a.port}, dataDir: ${a.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${b.port}, dataDir: ${b.dataDir}, priority: 50 }
`,
      'pullback.yaml',
    );
    const [oldActive, newActive] = config.components.shop!.instances;

    const lock = await pipeline.registry.acquireLock('import.shop-a', 60_000);
    expect(lock).toBeDefined();
    expect(await rejoinOldActive(oldActive!, newActive!, pipeline.registry)).toEqual({
      following: false,
      why: 'rejoin of shop-a: import.shop-a is busy',
      busy: true,
    });
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    await expect(access(join(a.dataDir, 'standby.signal'))).rejects.toThrow();

    await lock!.release();
    expect(await rejoinOldActive(oldActive!, newActive!, pipeline.registry)).toEqual({ following: true });
    await query({ host: '127.0.0.1', port: b.port }, "insert into orders values (2, 'b')");
    await waitFor('A to stream from B and replay its write', async () =>
      (await query(
        { host: '127.0.0.1', port: a.port },
        'select (select count(*) from orders)::text || pg_is_in_recovery()::text || (select sender_port from pg_stat_wal_receiver)::text',
      ).catch(() => '')) === `2true${b.port}`
        ? true
        : undefined,
    );
    // The lock was given back.
    expect(await pipeline.registry.acquireLock('import.shop-a', 1000)).toBeDefined();
  });
});
