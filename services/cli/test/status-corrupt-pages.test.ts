import { type RedisServer, startRedis } from '@pullback/harness';
import { connectRedis, parseConfig, type Redis, Registry, readStatus } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatus } from '../src/status-view.js';

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

const CONFIG = `
redis: redis://127.0.0.1:6379
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
`;

describe('status shows corrupt pages', () => {
  it("names the last export's corrupt pages, their files and blocks, and the snapshot they went into", async () => {
    const registry = new Registry(connection, { prefix: `pullback-test-status-corrupt-${process.pid}` });
    await registry.registerConfig(parseConfig(CONFIG));
    const epoch = (await registry.requireComponent('shop')).epoch;
    const pages = Array.from({ length: 7 }, (_, i) => ({ file: 'base/5/16384', block: i * 10 }));
    await registry.recordExport('shop', epoch, {
      exportId: 'shop-e1',
      startedAt: '2026-12-06T02:00:00.000Z',
      finishedAt: '2026-12-06T02:01:00.000Z',
      ok: true,
      bytes: 1024,
      corruptPages: pages,
      corruptPageCount: 7,
    });
    await registry.recordSnapshot('shop', epoch, {
      id: 'ab'.repeat(32),
      time: '2026-12-06T02:01:30.000Z',
      exportId: 'shop-e1',
      logicalBytes: 1024,
      newBytesStored: 512,
    });
    const status = await readStatus(registry, { now: new Date('2026-12-06T03:00:00.000Z') });
    const text = renderStatus({ ...status, queues: {}, nextExports: {}, running: [] });
    expect(text).toContain(
      '  CORRUPT PAGES  7 (wrong checksum) in snapshot abababababab: base/5/16384 block 0, base/5/16384 block 10, base/5/16384 block 20, base/5/16384 block 30, base/5/16384 block 40, ...',
    );
  });
});
