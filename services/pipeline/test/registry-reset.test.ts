import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  describeRestore,
  guardRegistry,
  openPipeline,
  type Pipeline,
  parseConfig,
  type RegistryRestore,
} from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// Each test restarts its Redis: one server per test.
let redis: RedisServer;
const opened: Pipeline[] = [];

beforeEach(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  for (const pipeline of opened.splice(0)) await pipeline.close();
  await redis?.stop();
});

const config = () =>
  parseConfig(`
redis: ${redis.url}
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
  docs:
    recipe: files
    path: /srv/docs
    schedule: "30 2 * * *"
    outbox: /tmp/docs
`);

function open(prefix: string): Pipeline {
  const pipeline = openPipeline({ redis: redis.url, prefix, onError: () => {} });
  opened.push(pipeline);
  return pipeline;
}

/** Redis restarted empty, and the pipeline's connection back on it. */
async function resetRedis(pipeline: Pipeline): Promise<void> {
  await redis.restartEmpty();
  await waitFor('the connection back', async () =>
    (await pipeline.connection.ping()) === 'PONG' ? true : undefined,
  );
}

describe('a registry that Redis lost', () => {
  it('is restored from the config with its schedulers, only when lost, and exports can be asked for again', async () => {
    const pipeline = open(testPrefix());
    expect(await pipeline.register(config())).toEqual({ epochs: { shop: 1, docs: 1 }, marked: true });
    expect(await pipeline.restoreIfReset(config(), async () => ({}))).toBeUndefined();

    await resetRedis(pipeline);
    await expect(pipeline.exportNow('shop')).rejects.toThrow('component shop is not in the registry');
    const restore = await pipeline.restoreIfReset(config(), async () => ({}));
    expect(restore).toEqual({ components: 2, epoch: 1 });
    expect(describeRestore(restore!)).toBe(
      'registry was reset: restored 2 components from the config, epoch 1',
    );
    expect((await pipeline.registry.component('shop'))?.active).toBe('shop-a');
    expect((await pipeline.exportQueue.getJobSchedulers(0, -1)).map((s) => s.key).sort()).toEqual([
      'export.docs',
      'export.shop',
    ]);
    expect((await pipeline.exportNow('shop')).created).toBe(true);
    expect(await pipeline.restoreIfReset(config(), async () => ({}))).toBeUndefined();
  });

  it('never takes an epoch below the one recorded outside Redis, and its schedulers carry it', async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    await resetRedis(pipeline);
    expect(await pipeline.restoreIfReset(config(), async () => ({ shop: 4 }))).toEqual({
      components: 2,
      epoch: 4,
    });
    expect((await pipeline.registry.component('shop'))?.epoch).toBe(4);
    expect((await pipeline.registry.component('docs'))?.epoch).toBe(1);
    const shop = (await pipeline.exportQueue.getJobSchedulers(0, -1)).find((s) => s.key === 'export.shop');
    expect(shop?.template?.data).toMatchObject({ component: 'shop', epoch: 4 });
    expect((await pipeline.exportNow('shop')).epoch).toBe(4);
  });

  it("takes the active the instances record at their highest epoch, not the config's, and says so", async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    await resetRedis(pipeline);
    const restore = await pipeline.restoreIfReset(config(), async () => ({
      shop: { epoch: 3, active: 'shop-b' },
    }));
    expect(restore).toEqual({ components: 2, epoch: 3, actives: { shop: 'shop-b' } });
    expect(describeRestore(restore!)).toBe(
      'registry was reset: restored 2 components from the config, epoch 3; active as the instances record: shop-b of shop',
    );
    expect(await pipeline.registry.component('shop')).toMatchObject({ epoch: 3, active: 'shop-b' });
    expect(await pipeline.registry.instance('shop-b')).toMatchObject({ role: 'active', epoch: 3 });
    expect(await pipeline.registry.instance('shop-a')).toMatchObject({ role: 'fallback', epoch: 3 });
    // A name the config does not have is no active: the config's stays.
    await resetRedis(pipeline);
    await pipeline.restoreIfReset(config(), async () => ({ shop: { epoch: 4, active: 'shop-z' } }));
    expect(await pipeline.registry.component('shop')).toMatchObject({ epoch: 4, active: 'shop-a' });
  });

  it("a registry behind the instances' records takes their epoch and active; one at or past them keeps its own", async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    // Restored by a process that knew no records (epoch 1, the config's active), then one that does.
    await pipeline.register(config(), { shop: { epoch: 2, active: 'shop-b' } });
    expect(await pipeline.registry.component('shop')).toMatchObject({ epoch: 2, active: 'shop-b' });
    expect(await pipeline.registry.instance('shop-b')).toMatchObject({ role: 'active', epoch: 2 });
    // An activation under way took epoch 3; records still at 2 (or naming another at 3) change nothing.
    await pipeline.registry.takeEpoch('shop', 2);
    await pipeline.register(config(), { shop: { epoch: 2, active: 'shop-a' } });
    await pipeline.register(config(), { shop: { epoch: 3, active: 'shop-a' } });
    expect(await pipeline.registry.component('shop')).toMatchObject({ epoch: 3, active: 'shop-b' });
    expect(await pipeline.registry.instance('shop-a')).toMatchObject({ role: 'fallback', epoch: 2 });
  });

  it('is restored once when several processes notice at the same time', async () => {
    const prefix = testPrefix();
    const processes = [open(prefix), open(prefix), open(prefix)];
    await processes[0]!.register(config());
    await resetRedis(processes[0]!);
    for (const pipeline of processes) {
      await waitFor('the connection back', async () =>
        (await pipeline.connection.ping()) === 'PONG' ? true : undefined,
      );
    }
    const results = await Promise.all(
      processes.map((pipeline, index) =>
        pipeline.restoreIfReset(config(), async () => ({ shop: 2 + index })),
      ),
    );
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    // Whoever restored, the epoch is the highest any of them knew of.
    expect((await processes[0]!.registry.component('shop'))?.epoch).toBe(4);
    expect(await processes[0]!.registry.instances('shop')).toHaveLength(2);
  });

  it('is noticed and restored by a running process when its connection comes back, and said so', async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    const restores: RegistryRestore[] = [];
    const errors: Error[] = [];
    // A check interval far beyond the test: the reconnection alone must bring the restore.
    const guard = guardRegistry(pipeline, config(), {
      intervalMs: 3_600_000,
      onRestored: (restore) => restores.push(restore),
      onError: (error) => errors.push(error),
    });
    try {
      await redis.restartEmpty();
      await waitFor('the restore', async () => restores[0]);
      expect(await pipeline.registry.componentNames()).toEqual(['docs', 'shop']);
      expect(restores).toEqual([{ components: 2, epoch: 1 }]);
      expect(errors).toEqual([]);
    } finally {
      await guard.stop();
    }
  });

  it('a check that never settles does not hold the next ones off: the registry is restored all the same', async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    const restores: RegistryRestore[] = [];
    const errors: Error[] = [];
    let reads = 0;
    const guard = guardRegistry(pipeline, config(), {
      intervalMs: 100,
      checkTimeoutMs: 500,
      // The first read of the epochs recorded outside Redis hangs for good (an agent that never answers).
      lowestEpochs: () => (++reads === 1 ? new Promise<never>(() => {}) : Promise.resolve({})),
      onRestored: (restore) => restores.push(restore),
      onError: (error) => errors.push(error),
    });
    try {
      await pipeline.connection.flushall();
      await waitFor('the restore', async () => restores[0]);
      expect(reads).toBeGreaterThanOrEqual(2);
      expect(errors[0]?.message).toBe('the registry check took over 500 ms; trying again');
      expect((await pipeline.registry.component('shop'))?.active).toBe('shop-a');
    } finally {
      await guard.stop();
    }
  });

  it('is noticed by the periodic check when Redis lost it without dropping the connection', async () => {
    const pipeline = open(testPrefix());
    await pipeline.register(config());
    const restores: RegistryRestore[] = [];
    const guard = guardRegistry(pipeline, config(), {
      intervalMs: 100,
      onRestored: (restore) => restores.push(restore),
      onError: () => {},
    });
    try {
      await pipeline.connection.flushall();
      await waitFor('the restore', async () => restores[0]);
      expect((await pipeline.registry.component('shop'))?.active).toBe('shop-a');
    } finally {
      await guard.stop();
    }
  });
});
