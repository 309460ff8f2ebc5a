import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  connectRedis,
  type InstancePosition,
  type Recipe,
  type Redis,
  Registry,
  reportFallbackPosition,
} from '../src/index.js';
import { type Sandbox, sandbox, testPrefix } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

let redis: RedisServer;
let connection: Redis;
let box: Sandbox;
let registry: Registry;

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
});

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
});

beforeEach(async () => {
  box = await sandbox(redis.url);
  registry = new Registry(connection, { prefix: testPrefix() });
  await registry.registerConfig(box.config);
});

afterEach(async () => {
  await box?.remove();
});

describe('reportFallbackPosition', () => {
  it('reports the WAL source, timeline and bytes behind the active it asked, and a fallback still starting as such', async () => {
    await registry.reportFallback('docs', 'docs-b', 1, {
      snapshotId: 'a'.repeat(64),
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
    const asked: unknown[] = [];
    let now: InstancePosition = { running: true, starting: true };
    const recipe: Recipe = {
      ...treeRecipe(),
      async position(_instance, options = {}) {
        asked.push(options.upstream);
        return now;
      },
    };
    const report = () =>
      reportFallbackPosition({
        component: 'docs',
        config: box.config.components.docs!,
        instance: 'docs-b',
        recipe,
        registry,
        signal: new AbortController().signal,
      });
    const state = async () => (await registry.instance('docs-b'))?.state;

    await report();
    expect(await state()).toMatchObject({ healthy: false, running: true, reason: 'starting' });
    // The active, as configured, is asked how far ahead it is.
    expect(asked).toEqual([{ host: '127.0.0.1', port: 1 }]);

    now = {
      running: true,
      inRecovery: true,
      lsn: '0/3000060',
      timeline: 1,
      source: 'archive',
      behindBytes: 4096,
      systemIdentifier: '42',
    };
    await report();
    const following = await state();
    expect(following).toMatchObject({
      snapshotId: 'a'.repeat(64),
      healthy: true,
      running: true,
      lsn: '0/3000060',
      timeline: 1,
      source: 'archive',
      behindBytes: 4096,
    });
    expect(following?.reason).toBeUndefined();

    now = { running: false, source: 'none' };
    await report();
    const stopped = await state();
    expect(stopped).toMatchObject({ healthy: false, running: false, reason: 'not running', source: 'none' });
    // What the stopped server cannot say any more is not kept as if it were current.
    expect(stopped?.behindBytes).toBeUndefined();
  });
});
