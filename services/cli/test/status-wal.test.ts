import { type RedisServer, startRedis } from '@pullback/harness';
import { connectRedis, parseConfig, type Redis, Registry, readStatus } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatus } from '../src/status-view.js';

let redis: RedisServer;
let connection: Redis;
let namespace = 0;

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
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: 5434, dataDir: /srv/c, priority: 40 }
`;

const NOW = new Date('2026-12-06T03:00:00.000Z');

/** `pullback status` of a registry filled as the receiver and the import agents report. */
async function statusOf(fill: (registry: Registry) => Promise<void>): Promise<string> {
  const registry = new Registry(connection, {
    prefix: `pullback-test-status-wal-${process.pid}-${namespace++}`,
  });
  await registry.registerConfig(parseConfig(CONFIG));
  await fill(registry);
  const status = await readStatus(registry, { now: NOW });
  return renderStatus({ ...status, queues: {}, nextExports: {}, running: [] });
}

const RECEIVER = {
  holder: 'pull-1:4242',
  source: 'shop-a',
  streaming: true,
  synchronous: false,
  slot: 'pullback_shop',
  stream: 'shop.7312345678901234567',
  timeline: 1,
  flushedLsn: '0/5000100',
  archivedLsn: '0/5000000',
  archivedAt: '2026-12-06T02:59:59.000Z',
  activeLsn: '0/5100000',
  behindBytes: 1048576,
  behindSeconds: 0.4,
  slotRetainedBytes: 16777216,
  slotStatus: 'reserved',
  maxSlotWalKeepSize: '1024',
  exportSlot: { name: 'pullback_export_shop', status: 'reserved', retainedBytes: 50331648 },
  updatedAt: '2026-12-06T02:59:58.000Z',
};

describe('status shows continuous WAL', () => {
  it('the receiver, the archive behind the active, the slot, and each fallback with its source and lag', async () => {
    const text = await statusOf(async (registry) => {
      await registry.reportWalReceiver('shop', RECEIVER);
      await registry.reportFallback('shop', 'shop-b', 1, {
        lsn: '0/50000A0',
        replayedAt: '2026-12-06T02:59:57.000Z',
        running: true,
        source: 'streaming',
        behindBytes: 2048,
        timeline: 1,
        healthy: true,
        updatedAt: '2026-12-06T02:59:59.000Z',
      });
      await registry.reportFallback('shop', 'shop-c', 1, {
        lsn: '0/4000000',
        replayedAt: '2026-12-06T02:58:00.000Z',
        running: true,
        source: 'archive',
        behindBytes: 17825792,
        healthy: true,
        updatedAt: '2026-12-06T02:59:59.000Z',
      });
    });
    const lines = text.split('\n');
    expect(lines).toContain(
      '  wal receiver   streaming, asynchronous, on pull-1:4242 from shop-a, reported 2 s ago',
    );
    expect(lines).toContain(
      '  wal archived   0/5000000 at 2026-12-06 02:59:59Z, flushed 0/5000100, timeline 1; behind the active: 1.0 MiB, 0.4 s',
    );
    expect(lines).toContain('  wal slot       pullback_shop: reserved, holds back 16.0 MiB on the active');
    expect(lines).toContain(
      '  export slot    pullback_export_shop: reserved, holds back 48.0 MiB on the active (the WAL since the last export)',
    );
    expect(text).not.toMatch(/!!/);
    expect(lines.find((line) => line.includes('FALLBACK'))).toMatch(
      /FALLBACK +STATE +SNAPSHOT +LSN +SOURCE +REPLAYED +BEHIND +WHY/,
    );
    expect(lines.find((line) => line.includes('shop-b'))).toMatch(
      /^ {2}shop-b :5433 +healthy +- +0\/50000A0 +streaming +2026-12-06 02:59:57Z +2\.0 KiB, 3 s$/,
    );
    expect(lines.find((line) => line.includes('shop-c'))).toMatch(
      /^ {2}shop-c :5434 +healthy +- +0\/4000000 +archive +2026-12-06 02:58:00Z +17\.0 MiB, 2 min$/,
    );
  });

  it('says loudly that the active blocks when a synchronous receiver is not streaming, and warns of an unlimited slot', async () => {
    const text = await statusOf(async (registry) => {
      await registry.reportWalReceiver('shop', {
        ...RECEIVER,
        streaming: false,
        synchronous: true,
        blockingWrites: true,
        reason: 'connection refused',
        maxSlotWalKeepSize: '-1',
      });
    });
    const lines = text.split('\n');
    expect(lines).toContain(
      '  wal receiver   NOT STREAMING: connection refused, synchronous, on pull-1:4242 from shop-a, reported 2 s ago',
    );
    expect(lines).toContain(
      "  !! WAL RECEIVER DOWN IN SYNCHRONOUS MODE: the active's writes block until it streams again",
    );
    expect(lines).toContain(
      '  !! max_slot_wal_keep_size is unlimited (-1) on the active: a receiver that stays down can fill its disk',
    );
  });

  it('shows each WAL gap with the time that cannot be restored to', async () => {
    const text = await statusOf(async (registry) => {
      await registry.recordWalGaps('shop', [
        {
          timeline: 1,
          fromLsn: '0/3000000',
          toLsn: '0/4000000',
          fromTime: '2026-12-06T02:10:00.000Z',
          toTime: '2026-12-06T02:20:00.000Z',
          cause: 'missing',
          detectedAt: '2026-12-06T02:30:00.000Z',
        },
      ]);
    });
    expect(text.split('\n')).toContain(
      '  WAL GAP        timeline 1 0/3000000 to 0/4000000 (missing); nothing from 2026-12-06 02:10:00Z to 2026-12-06 02:20:00Z can be restored',
    );
  });

  it('shows nothing of WAL for a component without a receiver', async () => {
    const text = await statusOf(async () => {});
    expect(text).not.toMatch(/wal |WAL GAP/);
  });
});
