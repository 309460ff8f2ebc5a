import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ArtifactManifest,
  connectRedis,
  type ExportInput,
  parseConfig,
  type Recipe,
  type Redis,
  Registry,
  runExport,
} from '../src/index.js';

let redis: RedisServer;
let connection: Redis;

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
}, 60_000);

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
});

const config = parseConfig(`
redis: redis://127.0.0.1:6379
archive: { url: /tmp/archive }
stateDir: /tmp/pullback-state
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
`);

describe('an export that found corrupt pages', () => {
  it('is recorded with them (the first 20, and how many), for status', async () => {
    const registry = new Registry(connection, { prefix: `pullback-test-export-corrupt-${process.pid}` });
    await registry.registerConfig(config);
    const epoch = (await registry.requireComponent('shop')).epoch;
    const pages = Array.from({ length: 25 }, (_, block) => ({ file: 'base/5/16384', block }));
    const asked: ExportInput[] = [];
    const recipe: Recipe = {
      name: 'postgres',
      kinds: ['physical'],
      importKinds: ['physical'],
      export: async (input) => {
        asked.push(input);
        return {
          exportId: input.exportId,
          objects: [],
          details: { corruptPages: pages },
        } as unknown as ArtifactManifest;
      },
    };
    await runExport({
      component: 'shop',
      config: config.components.shop!,
      recipe,
      outbox: {} as never,
      exportId: 'shop-e1',
      epoch,
      registry,
      stateDir: config.stateDir,
      full: true,
      enqueuePull: async () => {},
    });
    // The agent's state directory, --full and the registry's view reach the recipe.
    expect(asked[0]).toMatchObject({ stateDir: '/tmp/pullback-state', full: true, newestExportId: null });
    const exported = (await registry.requireComponent('shop')).lastExport;
    expect(exported).toMatchObject({ exportId: 'shop-e1', ok: true, corruptPageCount: 25 });
    expect(exported?.corruptPages).toEqual(pages.slice(0, 20));
  });
});
