import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, logicalSchedulerId, openPipeline, parseConfig, parseJob } from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

/** Logical exports in the config and the queues (docs/exports.md "Logical exports users ask for"). */

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

const configText = (shopExtra: string, docsExtra = '') => `
redis: ${redis?.url ?? 'redis://127.0.0.1:6379'}
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
${shopExtra}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
  docs:
    recipe: files
    path: /srv/docs
    outbox: /tmp/docs
${docsExtra}
`;

function problems(text: string): readonly string[] {
  try {
    parseConfig(text, 'pullback.yaml');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.lines;
    throw error;
  }
}

describe('the logical key of a postgres component', () => {
  it('is optional; takes a schedule and, optionally, the databases', () => {
    expect(parseConfig(configText('')).components.shop).not.toHaveProperty('logical');
    const config = parseConfig(
      configText('    logical: { schedule: "0 3 * * *", databases: [shop, "odd name"] }'),
    );
    expect(config.components.shop).toMatchObject({
      logical: { schedule: '0 3 * * *', databases: ['shop', 'odd name'] },
    });
    const every = parseConfig(configText('    logical: { schedule: "@daily" }'));
    expect(every.components.shop).toMatchObject({ logical: { schedule: '@daily' } });
  });

  it('refuses a bad schedule, an empty database list, an unknown key, and the key on a files component', () => {
    expect(problems(configText('    logical: { schedule: "0 3 * *" }'))).toEqual([
      expect.stringMatching(/components\.shop\.logical\.schedule.*expected a cron expression with 5 fields/),
    ]);
    expect(problems(configText('    logical: { schedule: "0 3 * * *", databases: [] }'))).toEqual([
      expect.stringMatching(/components\.shop\.logical\.databases.*name at least one database/),
    ]);
    expect(problems(configText('    logical: { schedule: "0 3 * * *", tables: [x] }'))).toEqual([
      expect.stringMatching(/components\.shop\.logical.*tables/),
    ]);
    expect(problems(configText('    logical: { databases: [shop] }'))).toEqual([
      expect.stringMatching(/components\.shop\.logical\.schedule/),
    ]);
    expect(problems(configText('', '    logical: { schedule: "0 3 * * *" }'))).toEqual([
      expect.stringMatching(/components\.docs.*logical/),
    ]);
  });
});

describe('logical export jobs', () => {
  it('a logical scheduler beside the physical one, with jobs of kind logical; gone when the key is', async () => {
    const prefix = testPrefix();
    const pipeline = openPipeline({ redis: redis.url, prefix });
    try {
      await pipeline.register(parseConfig(configText('    logical: { schedule: "0 3 * * *" }')));
      const schedulers = await pipeline.exportQueue.getJobSchedulers(0, -1);
      expect(schedulers.map((s) => [s.key, s.pattern, s.template?.data]).sort()).toEqual([
        ['export.docs', '0 * * * *', { component: 'docs', epoch: 1, requestedBy: 'schedule' }],
        ['export.shop', '0 * * * *', { component: 'shop', epoch: 1, requestedBy: 'schedule' }],
        [
          logicalSchedulerId('shop'),
          '0 3 * * *',
          { component: 'shop', epoch: 1, requestedBy: 'schedule', kind: 'logical' },
        ],
      ]);
      const status = await pipeline.readStatus();
      expect(Object.keys(status.nextExports).sort()).toEqual(['docs', 'shop']);
      expect(Object.keys(status.nextLogicalExports ?? {})).toEqual(['shop']);
      expect(new Date(status.nextLogicalExports!.shop!).getHours()).toBe(3);

      // An activation: both schedulers carry the new epoch.
      await pipeline.connection.hset(pipeline.registry.keys.component('shop'), 'epoch', 2);
      await pipeline.upsertSchedules('shop', { schedule: '0 * * * *', logical: { schedule: '0 4 * * *' } });
      const logical = await pipeline.exportQueue.getJobScheduler(logicalSchedulerId('shop'));
      expect(logical?.template?.data).toEqual({
        component: 'shop',
        epoch: 2,
        requestedBy: 'schedule',
        kind: 'logical',
      });
      expect(logical?.pattern).toBe('0 4 * * *');

      await pipeline.register(parseConfig(configText('')));
      expect((await pipeline.exportQueue.getJobSchedulers(0, -1)).map((s) => s.key).sort()).toEqual([
        'export.docs',
        'export.shop',
      ]);
    } finally {
      await pipeline.close();
    }
  });

  it('export --logical --now is its own job, beside a physical --now', async () => {
    const pipeline = openPipeline({ redis: redis.url, prefix: testPrefix() });
    try {
      await pipeline.register(parseConfig(configText('')));
      expect(await pipeline.exportNow('shop')).toMatchObject({ jobId: 'export-now.shop', created: true });
      expect(await pipeline.exportNow('shop', { kind: 'logical' })).toMatchObject({
        jobId: 'export-now.shop.logical',
        created: true,
      });
      expect(await pipeline.exportNow('shop', { kind: 'logical' })).toMatchObject({ created: false });
      const waiting = await pipeline.exportQueue.getWaiting();
      expect(waiting.map((job) => [job.id, job.data.kind]).sort()).toEqual([
        ['export-now.shop', undefined],
        ['export-now.shop.logical', 'logical'],
      ]);
    } finally {
      await pipeline.close();
    }
  });

  it('export --now --full carries full in a physical job; a logical job never does', async () => {
    const pipeline = openPipeline({ redis: redis.url, prefix: testPrefix() });
    try {
      await pipeline.register(parseConfig(configText('')));
      await pipeline.exportNow('shop', { full: true });
      await pipeline.exportNow('shop', { kind: 'logical', full: true });
      const waiting = await pipeline.exportQueue.getWaiting();
      expect(waiting.map((job) => [job.id, job.data.kind, job.data.full]).sort()).toEqual([
        ['export-now.shop', undefined, true],
        ['export-now.shop.logical', 'logical', undefined],
      ]);
      for (const job of waiting) expect(() => parseJob('export', job.data, job.id ?? '')).not.toThrow();
    } finally {
      await pipeline.close();
    }
  });

  it('a job of an unknown kind is invalid', () => {
    expect(() =>
      parseJob('export', { component: 'shop', epoch: 1, requestedBy: 'now', kind: 'sideways' }, 'j1'),
    ).toThrow(/^export job j1 is invalid: kind: /);
  });
});
