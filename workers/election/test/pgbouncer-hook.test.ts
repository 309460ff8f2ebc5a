import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  type PgBouncerServer,
  type PostgresServer,
  type RedisServer,
  scratchDir,
  startPgBouncer,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { openPipeline, type PgBouncerConfig, parseConfig } from '@pullback/pipeline';
import { closePools } from '@pullback/recipe-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, activationEffects } from '../src/index.js';
import { pointPgBouncer } from '../src/pgbouncer-hook.js';

let a: PostgresServer;
let b: PostgresServer;
let redis: RedisServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;

beforeAll(async () => {
  [a, b, redis] = await Promise.all([startPostgres(), startPostgres(), startRedis()]);
  scratch = await scratchDir('pgbouncer-hook');
}, 120_000);

afterAll(async () => {
  await closePools();
  await Promise.all([a?.stop(), b?.stop(), redis?.stop()]);
  await scratch?.remove();
});

/** A pgbouncer whose `shop` and `reports` both point at server A, with comments around them; stopped by PID after the test. */
async function bouncerOnA(onTestFinished: (fn: () => Promise<void>) => void): Promise<PgBouncerServer> {
  const bouncer = await startPgBouncer({
    databases: [
      '; the shop follows the active (pullback rewrites this entry)',
      `shop = host=127.0.0.1 port=${a.port} dbname=postgres pool_size=5`,
      '',
      '# reports stay on A',
      `reports = host=127.0.0.1 port=${a.port} dbname=postgres`,
    ].join('\n'),
  });
  onTestFinished(() => bouncer.stop());
  return bouncer;
}

/** The port of the PostgreSQL server a new client connection through `bouncer` reaches. */
async function serverPortThrough(bouncer: PgBouncerServer, database = 'shop'): Promise<number> {
  const client = new pg.Client({ host: bouncer.host, port: bouncer.port, user: 'postgres', database });
  await client.connect();
  try {
    const { rows } = await client.query<{ port: number }>('select inet_server_port() as port');
    return Number(rows[0]?.port);
  } finally {
    await client.end();
  }
}

/** Every line of `before` but the shop entry is in `after`, unchanged and in order. */
function expectOnlyShopChanged(before: string, after: string): void {
  const others = (text: string) => text.split('\n').filter((line) => !line.startsWith('shop ='));
  expect(others(after)).toEqual(others(before));
  expect(after).toContain(`shop = host=127.0.0.1 port=${b.port} dbname=postgres pool_size=5\n`);
}

describe('pointPgBouncer on a real pgbouncer', () => {
  it('admin RELOAD: the next client reaches the new active, at once; other entries and comments unchanged', async ({
    onTestFinished,
  }) => {
    const bouncer = await bouncerOnA(onTestFinished);
    expect(await serverPortThrough(bouncer)).toBe(a.port);
    const before = await readFile(bouncer.iniPath, 'utf8');

    const hook: PgBouncerConfig = { ini: bouncer.iniPath, reload: 'admin' };
    await pointPgBouncer(hook, 'shop', { host: '127.0.0.1', port: b.port });

    // RELOAD answered after PgBouncer re-read the ini: no wait needed.
    expect(await serverPortThrough(bouncer)).toBe(b.port);
    expect(await serverPortThrough(bouncer, 'reports')).toBe(a.port);
    expectOnlyShopChanged(before, await readFile(bouncer.iniPath, 'utf8'));
    // Pointing again where it already points changes nothing and still succeeds.
    await pointPgBouncer(hook, 'shop', { host: '127.0.0.1', port: b.port });
    expectOnlyShopChanged(before, await readFile(bouncer.iniPath, 'utf8'));
  });

  it("sighup: the signal to the pidfile's process makes it reload", async ({ onTestFinished }) => {
    const bouncer = await bouncerOnA(onTestFinished);
    expect(await serverPortThrough(bouncer)).toBe(a.port);
    const before = await readFile(bouncer.iniPath, 'utf8');
    await pointPgBouncer({ ini: bouncer.iniPath, reload: 'sighup' }, 'shop', {
      host: '127.0.0.1',
      port: b.port,
    });
    await waitFor('pgbouncer to reach B', async () =>
      (await serverPortThrough(bouncer)) === b.port ? true : undefined,
    );
    expect(await serverPortThrough(bouncer, 'reports')).toBe(a.port);
    expectOnlyShopChanged(before, await readFile(bouncer.iniPath, 'utf8'));
  });

  it('a bad ini path, an unreachable admin console or a dead pidfile is one line naming it', async () => {
    const to = { host: '127.0.0.1', port: b.port };
    const missing = join(scratch.path, 'nowhere', 'pgbouncer.ini');
    await expect(pointPgBouncer({ ini: missing, reload: 'admin' }, 'shop', to)).rejects.toThrow(
      `pgbouncer ${missing}: cannot read it: no such file`,
    );

    const ini = join(scratch.path, 'unreachable.ini');
    const closedPort = await freePort();
    await writeFile(
      ini,
      `[databases]\nshop = host=127.0.0.1 port=${a.port}\n[pgbouncer]\nlisten_port = ${closedPort}\npidfile = ${join(scratch.path, 'gone.pid')}\n`,
    );
    const unreachable = await pointPgBouncer({ ini, reload: 'admin' }, 'shop', to).catch(
      (error: Error) => error,
    );
    expect(unreachable).toBeInstanceOf(Error);
    expect((unreachable as Error).message).toMatch(
      new RegExp(
        `^pgbouncer ${ini}: shop now names 127.0.0.1:${b.port}, but RELOAD on its admin console 127.0.0.1:${closedPort} failed: [^\\n]*ECONNREFUSED[^\\n]*$`,
      ),
    );
    // The ini was written all the same: PgBouncer reads it when it is started again.
    expect(await readFile(ini, 'utf8')).toContain(`shop = host=127.0.0.1 port=${b.port}\n`);

    await expect(pointPgBouncer({ ini, reload: 'sighup' }, 'shop', to)).rejects.toThrow(
      `pgbouncer ${ini}: shop now names 127.0.0.1:${b.port}, but it was not reloaded: cannot read its pidfile ${join(scratch.path, 'gone.pid')}: no such file`,
    );
  });
});

describe('moveFollowers with a pgbouncer hook', () => {
  const yaml = (ini: string, adminPort?: number) => `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    pgbouncer: { ini: ${ini}${adminPort === undefined ? '' : `, admin: { port: ${adminPort} }`} }
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${a.port}, dataDir: /nowhere, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${b.port}, dataDir: /nowhere, priority: 50 }
`;

  async function effectsFor(
    yamlText: string,
    prefix: string,
    onTestFinished: (fn: () => Promise<void>) => void,
  ) {
    const config = parseConfig(yamlText);
    const pipeline = openPipeline({ redis: redis.url, prefix });
    onTestFinished(() => pipeline.close());
    await pipeline.register(config);
    const epoch = (await pipeline.registry.component('shop'))?.epoch ?? 0;
    const effects = activationEffects({
      pipeline,
      config,
      component: 'shop',
      oldActive: 'shop-a',
      agents: new AgentClient({ agentToken: 'pgbouncer-test-token-0123' }),
    });
    return { effects, epoch };
  }

  it("points PgBouncer at the new active on activation; a failure is the move's warning, and a newer epoch leaves the ini alone", async ({
    onTestFinished,
  }) => {
    const bouncer = await bouncerOnA(onTestFinished);
    const { effects, epoch } = await effectsFor(yaml(bouncer.iniPath), 'pgbouncer-move-1', onTestFinished);
    const before = await readFile(bouncer.iniPath, 'utf8');

    // An activation overtaken by a newer epoch does not point PgBouncer at its candidate.
    await expect(effects.moveFollowers?.('shop-b', epoch + 1)).rejects.toThrow(
      `not re-pointed: pgbouncer ${bouncer.iniPath}: left as it is: a newer activation moved the active`,
    );
    expect(await readFile(bouncer.iniPath, 'utf8')).toBe(before);

    await effects.moveFollowers?.('shop-b', epoch);
    expect(await serverPortThrough(bouncer)).toBe(b.port);
    expectOnlyShopChanged(before, await readFile(bouncer.iniPath, 'utf8'));

    const closedPort = await freePort();
    const failing = await effectsFor(yaml(bouncer.iniPath, closedPort), 'pgbouncer-move-2', onTestFinished);
    await expect(failing.effects.moveFollowers?.('shop-a', failing.epoch)).rejects.toThrow(
      `not re-pointed: pgbouncer ${bouncer.iniPath}: shop now names 127.0.0.1:${a.port}, but RELOAD on its admin console 127.0.0.1:${closedPort} failed`,
    );
  });
});
