import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Config,
  connectRedis,
  parseConfig,
  type Recipe,
  type Redis,
  Registry,
  reportFallbackPosition,
} from '../src/index.js';
import { beforeFirstWrite } from './helpers/before-first-write.js';
import { testPrefix } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/*
 * Each test lets a competing writer (another process, played by a second connection)
 * write at the worst moment of a registry step: after the step read, before it
 * writes. The step must decide on what is there when it writes.
 */

let redis: RedisServer;
/** The competing writer's connection. */
let other: Redis;
/** The connection of the step under test, hooked. */
let racing: Redis;
let config: Config;

beforeAll(async () => {
  redis = await startRedis();
  other = connectRedis(redis.url);
  config = parseConfig(`
redis: ${redis.url}
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
`);
});

afterAll(async () => {
  await other?.quit();
  await redis?.stop();
});

beforeEach(async () => {
  racing = connectRedis(redis.url);
  await racing.ping();
});

afterEach(async () => {
  await racing.quit();
});

/** The registry under test and the competing writer's, on one fresh namespace. */
async function registries(): Promise<{ registry: Registry; competitor: Registry }> {
  const prefix = testPrefix();
  const competitor = new Registry(other, { prefix });
  await competitor.registerConfig(config);
  return { registry: new Registry(racing, { prefix }), competitor };
}

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
/** Fallback shop-b as a restore of snapshot A left it. */
const STANDBY_AT_A = { snapshotId: A, healthy: true, running: true, updatedAt: '2025-01-01T10:00:00.000Z' };

/** One round of the position reporter for shop-b, through `registry`, asking `recipe`. */
function reportPosition(registry: Registry, recipe: Recipe): Promise<void> {
  return reportFallbackPosition({
    component: 'shop',
    config: config.components.shop!,
    instance: 'shop-b',
    recipe,
    registry,
    signal: new AbortController().signal,
  });
}

describe('registry steps that read before they write', () => {
  it('a snapshot proven good stays good when a failure elsewhere is recorded at the same moment', async () => {
    const { registry, competitor } = await registries();
    const at = new Date().toISOString();
    beforeFirstWrite(racing, () =>
      competitor.markSnapshot('shop', A, { state: 'good', instance: 'shop-c', at }),
    );
    await registry.markSnapshot('shop', A, { state: 'bad', instance: 'shop-b', reason: 'no start', at });
    expect((await competitor.snapshotHealth('shop'))[A]).toEqual({ state: 'good', instance: 'shop-c', at });
  });

  it('an older snapshot never replaces a newer one recorded at the same moment', async () => {
    const { registry, competitor } = await registries();
    const newer = {
      id: B,
      time: '2025-01-01T11:00:00.000Z',
      exportId: 'e2',
      logicalBytes: 2,
      newBytesStored: 2,
    };
    const older = {
      id: A,
      time: '2025-01-01T10:00:00.000Z',
      exportId: 'e1',
      logicalBytes: 1,
      newBytesStored: 1,
    };
    beforeFirstWrite(racing, () => competitor.recordSnapshot('shop', 1, newer));
    expect(await registry.recordSnapshot('shop', 1, older)).toBe(false);
    expect((await competitor.component('shop'))?.lastSnapshot).toEqual(newer);
  });

  it('a position report never rolls back a restore that reported just before its write', async () => {
    const { registry, competitor } = await registries();
    await competitor.reportFallback('shop', 'shop-b', 1, STANDBY_AT_A);
    const restoring = {
      snapshotId: B,
      healthy: false,
      running: false,
      reason: 'restoring',
      updatedAt: '2025-01-01T11:00:00.000Z',
    };
    const standby: Recipe = {
      ...treeRecipe(),
      position: async () => ({ running: true, inRecovery: true, lsn: '0/3000060' }),
    };
    beforeFirstWrite(racing, () => competitor.reportFallback('shop', 'shop-b', 1, restoring));
    await reportPosition(registry, standby);
    expect((await competitor.instance('shop-b'))?.state).toEqual(restoring);
  });

  it('a position report still refreshes a state nobody changed meanwhile', async () => {
    const { registry, competitor } = await registries();
    await competitor.reportFallback('shop', 'shop-b', 1, STANDBY_AT_A);
    const stopped: Recipe = { ...treeRecipe(), position: async () => ({ running: false }) };
    await reportPosition(registry, stopped);
    expect((await competitor.instance('shop-b'))?.state).toMatchObject({
      snapshotId: A,
      healthy: false,
      running: false,
      reason: 'not running',
    });
  });
});
