import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectRedis, PipelineError, parseConfig, type Redis, Registry, readStatus } from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

let redis: RedisServer;
let connection: Redis;

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
});

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
});

const CONFIG = `
redis: redis://127.0.0.1:6379
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
`;

describe('registry', () => {
  it('registers components at epoch 1 with their initial roles, and a restart never overwrites live state', async () => {
    const registry = new Registry(connection, { prefix: testPrefix() });
    const config = parseConfig(CONFIG);
    await registry.registerConfig(config);
    expect(await registry.component('shop')).toMatchObject({
      epoch: 1,
      active: 'shop-a',
      recipe: 'postgres',
    });
    expect((await registry.instances('shop')).map((i) => [i.name, i.role, i.epoch, i.port])).toEqual([
      ['shop-a', 'active', 1, 5432],
      ['shop-b', 'fallback', 1, 5433],
    ]);

    // An activation (the election's, played here by hand) moves the live state on.
    await connection.hset(registry.keys.component('shop'), 'epoch', 2, 'active', 'shop-b');
    await connection.hset(registry.keys.instance('shop-b'), 'role', 'active', 'epoch', 2);
    await connection.hset(registry.keys.instance('shop-a'), 'role', 'fallback', 'epoch', 2);
    // A restart with a changed port and a new instance that the config calls active.
    const restarted = parseConfig(
      CONFIG.replace('port: 5433', 'port: 6433').concat(
        '      - { name: shop-c, role: fallback, host: 127.0.0.1, port: 5434, dataDir: /srv/c, priority: 0 }\n',
      ),
    );
    await registry.registerConfig(restarted);
    expect(await registry.component('shop')).toMatchObject({ epoch: 2, active: 'shop-b' });
    expect((await registry.instances('shop')).map((i) => [i.name, i.role, i.epoch, i.port])).toEqual([
      ['shop-a', 'fallback', 2, 5432],
      ['shop-b', 'active', 2, 6433],
      ['shop-c', 'fallback', 2, 5434],
    ]);
    expect(await registry.fallbacks('shop')).toHaveLength(2);
  });

  it('checks epochs atomically and refuses to record under a stale one', async () => {
    const registry = new Registry(connection, { prefix: testPrefix() });
    await registry.registerConfig(parseConfig(CONFIG));
    expect(await registry.checkEpoch('shop', 1)).toEqual({ ok: true, current: 1 });
    expect(await registry.checkEpoch('nope', 1)).toEqual({ ok: false, current: undefined });
    await connection.hset(registry.keys.component('shop'), 'epoch', 3);
    expect(await registry.checkEpoch('shop', 1)).toEqual({ ok: false, current: 3 });
    const error = await registry.assertEpoch('shop', 1, 'pull of e1 of shop').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({ code: 'stale-epoch', permanent: true });
    expect((error as Error).message).toBe(
      'pull of e1 of shop: epoch 1 of shop is stale (the component is at epoch 3)',
    );
    const record = { exportId: 'e1', startedAt: 'x', finishedAt: 'y', ok: true };
    expect(await registry.recordExport('shop', 1, record)).toBe(false);
    expect((await registry.component('shop'))?.lastExport).toBeUndefined();
    expect(await registry.recordExport('shop', 3, record)).toBe(true);
    expect((await registry.component('shop'))?.lastExport).toEqual(record);
  });

  it('locks: one holder at a time, released only by its holder, freed by the TTL', async () => {
    const registry = new Registry(connection, { prefix: testPrefix() });
    const first = await registry.acquireLock('export.shop', 300);
    expect(first).toBeDefined();
    expect(await registry.acquireLock('export.shop', 300)).toBeUndefined();
    expect(await first?.renew()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const second = await registry.acquireLock('export.shop', 10_000);
    expect(second).toBeDefined();
    expect(await first?.renew()).toBe(false);
    await first?.release(); // not the holder: a no-op
    expect(await registry.acquireLock('export.shop', 300)).toBeUndefined();
    await second?.release();
    expect(await registry.acquireLock('export.shop', 300)).toBeDefined();
  });

  it('queues snapshots for a fallback newest-wins, and reads the whole status', async () => {
    const registry = new Registry(connection, { prefix: testPrefix() });
    await registry.registerConfig(parseConfig(CONFIG));
    const older = '2025-01-01T10:00:00.000Z';
    const newer = '2025-01-01T11:00:00.000Z';
    expect(await registry.queueSnapshot('shop-b', 'b'.repeat(64), newer)).toBe(true);
    expect(await registry.queueSnapshot('shop-b', 'a'.repeat(64), older)).toBe(false);
    expect(await registry.queueSnapshot('shop-b', 'b'.repeat(64), newer)).toBe(true);
    expect(await registry.queuedSnapshotTime('shop-b')).toBe(Date.parse(newer));

    await registry.recordSnapshot('shop', 1, {
      id: 'b'.repeat(64),
      time: newer,
      exportId: 'e2',
      logicalBytes: 100,
      newBytesStored: 10,
    });
    await registry.reportFallback('shop', 'shop-b', 1, {
      snapshotId: 'b'.repeat(64),
      snapshotTime: newer,
      replayedAt: '2025-01-01T11:59:00.000Z',
      healthy: true,
      updatedAt: newer,
    });
    await registry.markSnapshot('shop', 'a'.repeat(64), {
      state: 'bad',
      instance: 'shop-b',
      reason: 'no start',
      at: older,
    });
    await registry.recordFailure('shop', {
      stage: 'export',
      at: older,
      message: 'connection refused',
      final: false,
    });

    const status = await readStatus(registry, { now: new Date('2025-01-01T12:00:00.000Z') });
    expect(status.components).toHaveLength(1);
    const shop = status.components[0]!;
    expect(shop).toMatchObject({ name: 'shop', epoch: 1, active: 'shop-a' });
    expect(shop.lastSnapshot).toMatchObject({ id: 'b'.repeat(64), ageSeconds: 3600 });
    expect(shop.instances.find((i) => i.name === 'shop-b')).toMatchObject({
      role: 'fallback',
      atLastSnapshot: true,
      behindSeconds: 60,
      state: { healthy: true },
    });
    expect(Object.keys(shop.badSnapshots)).toEqual(['a'.repeat(64)]);
    expect(shop.failures).toEqual([
      { stage: 'export', at: older, message: 'connection refused', final: false },
    ]);

    // A snapshot that started on a fallback stays good.
    await registry.markSnapshot('shop', 'a'.repeat(64), { state: 'good', instance: 'shop-c', at: newer });
    await registry.markSnapshot('shop', 'a'.repeat(64), {
      state: 'bad',
      instance: 'shop-b',
      reason: 'x',
      at: newer,
    });
    expect((await registry.snapshotHealth('shop'))['a'.repeat(64)]?.state).toBe('good');
  });
});
