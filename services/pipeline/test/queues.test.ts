import { type RedisServer, startRedis } from '@pullback/harness';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  exportNowJobId,
  exportSchedulerId,
  InvalidJobError,
  jobErrorAction,
  openPipeline,
  PipelineError,
  parseConfig,
  parseJob,
  RecipeError,
} from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
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
  docs:
    recipe: files
    path: /srv/docs
    schedule: "30 2 * * *"
    outbox: /tmp/docs
`);

describe('queues', () => {
  it('registers one export job scheduler per component, visible in Redis, and removes dropped ones', async () => {
    const prefix = testPrefix();
    const pipeline = openPipeline({ redis: redis.url, prefix });
    try {
      await pipeline.register(config());
      const schedulers = await pipeline.exportQueue.getJobSchedulers(0, -1);
      expect(schedulers.map((s) => [s.key, s.pattern]).sort()).toEqual([
        ['export.docs', '30 2 * * *'],
        ['export.shop', '0 * * * *'],
      ]);
      // In Redis itself: the scheduler set and its next (delayed) job.
      expect(await pipeline.connection.zrange(`${prefix}:export:repeat`, 0, -1)).toEqual(
        expect.arrayContaining([exportSchedulerId('shop'), exportSchedulerId('docs')]),
      );
      const delayed = await pipeline.exportQueue.getDelayed();
      expect(delayed.map((job) => job.data).sort((a, b) => a.component.localeCompare(b.component))).toEqual([
        { component: 'docs', epoch: 1, requestedBy: 'schedule' },
        { component: 'shop', epoch: 1, requestedBy: 'schedule' },
      ]);

      const withoutDocs = config();
      delete (withoutDocs.components as Record<string, unknown>).docs;
      await pipeline.register(withoutDocs);
      expect((await pipeline.exportQueue.getJobSchedulers(0, -1)).map((s) => s.key)).toEqual(['export.shop']);
    } finally {
      await pipeline.close();
    }
  });

  it('export --now makes one job however often it is asked while that one is pending', async () => {
    const pipeline = openPipeline({ redis: redis.url, prefix: testPrefix() });
    try {
      await pipeline.register(config());
      expect(await pipeline.exportNow('shop')).toEqual({
        jobId: exportNowJobId('shop'),
        created: true,
        epoch: 1,
      });
      expect(await pipeline.exportNow('shop')).toEqual({
        jobId: exportNowJobId('shop'),
        created: false,
        epoch: 1,
      });
      const waiting = await pipeline.exportQueue.getWaiting();
      expect(waiting.map((job) => [job.id, job.data.requestedBy])).toEqual([['export-now.shop', 'now']]);
      await expect(pipeline.exportNow('nope')).rejects.toMatchObject({ code: 'unknown-component' });
      // Every queue gets retries with exponential backoff by default.
      expect(waiting[0]?.opts).toMatchObject({
        attempts: 5,
        backoff: { type: 'exponential', delay: 10_000 },
      });
      const status = await pipeline.readStatus();
      expect(status.queues.export).toMatchObject({ waiting: 1, delayed: 2, active: 0 });
      expect(Object.keys(status.nextExports).sort()).toEqual(['docs', 'shop']);
      expect(Date.parse(status.nextExports.shop!)).toBeGreaterThan(Date.now());
      expect(status.running).toEqual([]);
    } finally {
      await pipeline.close();
    }
  });

  it('keeps pipelines with different prefixes apart', async () => {
    const one = openPipeline({ redis: redis.url, prefix: testPrefix() });
    const two = openPipeline({ redis: redis.url, prefix: testPrefix() });
    try {
      await one.register(config());
      expect(await two.registry.componentNames()).toEqual([]);
      const other = new Queue('export', { connection: two.connection, prefix: two.prefix });
      expect(await other.getJobSchedulersCount()).toBe(0);
      await other.close();
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('job contracts and errors', () => {
  it('validates job data with one line naming the job', () => {
    expect(parseJob('export', { component: 'shop', epoch: 2, requestedBy: 'now' }, 'j1')).toEqual({
      component: 'shop',
      epoch: 2,
      requestedBy: 'now',
    });
    expect(() =>
      parseJob('pull', { component: 'shop', epoch: 0, exportId: '../x', outbox: '' }, 'j2'),
    ).toThrow(InvalidJobError);
    expect(() => parseJob('import', { component: 'shop' }, 'j3')).toThrow(
      /^import job j3 is invalid: instance: /,
    );
  });

  it('maps errors to retry, permanent or later in one place', () => {
    expect(jobErrorAction(new PipelineError('stale-epoch', 'x'))).toBe('permanent');
    expect(jobErrorAction(new PipelineError('corrupt-artifact', 'x'))).toBe('permanent');
    expect(jobErrorAction(new PipelineError('busy', 'x'))).toBe('later');
    expect(jobErrorAction(new PipelineError('not-active-here', 'x'))).toBe('later');
    expect(jobErrorAction(new PipelineError('lock-lost', 'x'))).toBe('retry');
    expect(jobErrorAction(new RecipeError('x', { permanent: true }))).toBe('permanent');
    expect(jobErrorAction(new RecipeError('connection refused'))).toBe('retry');
    expect(jobErrorAction(new Error('ECONNRESET'))).toBe('retry');
  });
});
