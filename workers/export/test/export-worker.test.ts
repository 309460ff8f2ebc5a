import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig, type Recipe } from '@pullback/pipeline';
import { filesRecipe } from '@pullback/recipe-files';
import { postgresRecipe } from '@pullback/recipe-postgres';
import { openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startExportWorker } from '../src/index.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

beforeEach(async () => {
  scratch = await scratchDir('export-worker');
  await mkdir(join(scratch.path, 'docs'));
  await writeFile(join(scratch.path, 'docs', 'readme'), 'hello\n');
  pipeline = openPipeline({
    redis: redis.url,
    prefix: `t${randomUUID().slice(0, 8)}`,
    retry: { attempts: 3, backoffMs: 200 },
  });
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await pipeline.close();
  await scratch.remove();
});

function configWith(component: string): Config {
  return parseConfig(`
redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
${component}`);
}

/** A recipe that records how many exports of it run at once, each lasting at least `ms`. */
function slowed(recipe: Recipe, ms: number, seen: { running: number; most: number; done: string[] }): Recipe {
  return {
    ...recipe,
    async export(input) {
      seen.running++;
      seen.most = Math.max(seen.most, seen.running);
      try {
        await sleep(ms);
        const manifest = await recipe.export(input);
        seen.done.push(input.exportId);
        return manifest;
      } finally {
        seen.running--;
      }
    },
  };
}

describe('export worker', () => {
  it('runs scheduled and --now exports of a component one at a time, from two agents, each enqueueing its pull', async () => {
    // A schedule every 2 seconds (the 6-field form), beside repeated --now requests.
    const config = configWith(`  docs:
    recipe: files
    path: ${join(scratch.path, 'docs')}
    schedule: "*/2 * * * * *"
    outbox: ${join(scratch.path, 'outbox')}
`);
    await pipeline.register(config);
    expect((await pipeline.exportQueue.getJobSchedulers()).map((s) => s.key)).toEqual(['export.docs']);
    const seen = { running: 0, most: 0, done: [] as string[] };
    const recipe = slowed(filesRecipe(), 1500, seen);
    for (let agent = 0; agent < 2; agent++) {
      const worker = startExportWorker({ pipeline, config, recipeFor: () => recipe, laterDelayMs: 300 });
      stops.push(() => worker.close());
    }
    const first = await pipeline.exportNow('docs');
    expect(first.created).toBe(true);
    await sleep(200);
    expect((await pipeline.exportNow('docs')).created).toBe(false);
    await waitFor('four exports', async () => (seen.done.length >= 4 ? true : undefined), 60_000);
    expect(seen.most).toBe(1);
    const pulls = await pipeline.pullQueue.getWaiting();
    expect(pulls.length).toBeGreaterThanOrEqual(4);
    expect(new Set(pulls.map((job) => job.data.exportId)).size).toBe(pulls.length);
    const status = await pipeline.readStatus();
    expect(status.components[0]?.lastExport).toMatchObject({ ok: true });
  });

  it('retries an export whose active is down, reports each failure, and never enqueues a pull', async () => {
    const port = await freePort();
    const config = configWith(`  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${port}, dataDir: /nonexistent, priority: 100 }
`);
    await pipeline.register(config);
    const worker = startExportWorker({ pipeline, config, recipeFor: () => postgresRecipe() });
    stops.push(() => worker.close());
    await pipeline.exportNow('shop');
    const failures = await waitFor('three failed attempts', async () => {
      const list = await pipeline.registry.failures('shop');
      return list.length >= 3 ? list : undefined;
    });
    expect(failures.map((f) => [f.stage, f.final])).toEqual([
      ['export', true],
      ['export', false],
      ['export', false],
    ]);
    expect(failures[0]?.message).toMatch(
      /^export shop-\S+ of shop: connecting to 127\.0\.0\.1:\d+ failed.*connection refused/i,
    );
    const lastExport = (await pipeline.registry.component('shop'))?.lastExport;
    expect(lastExport).toMatchObject({ ok: false, instance: 'shop-a' });
    expect(lastExport?.reason).toMatch(/connection refused/i);
    expect(await pipeline.pullQueue.count()).toBe(0);
    const outbox: string[] = [];
    for await (const info of openBackend(join(scratch.path, 'outbox')).list('')) outbox.push(info.name);
    expect(outbox.filter((name) => !name.startsWith('.tmp'))).toEqual([]);
  });

  it('refuses a job of a stale epoch at once, and brings the scheduler to the current epoch', async () => {
    const config = configWith(`  docs:
    recipe: files
    path: ${join(scratch.path, 'docs')}
    outbox: ${join(scratch.path, 'outbox')}
`);
    await pipeline.register(config);
    await pipeline.exportNow('docs');
    await pipeline.exportQueue.add('export', { component: 'docs', epoch: 1, requestedBy: 'schedule' });
    // An activation moved the component to epoch 2 while the jobs waited.
    await pipeline.connection.hset(pipeline.registry.keys.component('docs'), 'epoch', 2);
    const worker = startExportWorker({ pipeline, config, recipeFor: () => filesRecipe() });
    stops.push(() => worker.close());
    const failures = await waitFor('two refusals', async () => {
      const list = await pipeline.registry.failures('docs');
      return list.length >= 2 ? list : undefined;
    });
    expect(
      failures.every(
        (f) => f.final && /epoch 1 of docs is stale \(the component is at epoch 2\)/.test(f.message),
      ),
    ).toBe(true);
    await sleep(300);
    expect(await pipeline.registry.failures('docs')).toHaveLength(2);
    expect(await pipeline.pullQueue.count()).toBe(0);
    const scheduler = await waitFor('the scheduler at epoch 2', async () => {
      const found = await pipeline.exportQueue.getJobScheduler('export.docs');
      return found?.template?.data?.epoch === 2 ? found : undefined;
    });
    expect(scheduler.template?.data).toEqual({ component: 'docs', epoch: 2, requestedBy: 'schedule' });
  });

  it('hands a job whose active is not its own to the agent of the active', async () => {
    const config = configWith(`  docs:
    recipe: files
    path: ${join(scratch.path, 'docs')}
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: /srv/a, priority: 0 }
      - { name: docs-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: /srv/b, priority: 0 }
`);
    await pipeline.register(config);
    const seen = { running: 0, most: 0, done: [] as string[] };
    const recipe = slowed(filesRecipe(), 0, seen);
    const elsewhere = startExportWorker({
      pipeline,
      config,
      recipeFor: () => recipe,
      instances: ['docs-b'],
      laterDelayMs: 200,
    });
    stops.push(() => elsewhere.close());
    await pipeline.exportNow('docs');
    await sleep(1500);
    expect(seen.done).toEqual([]);
    expect(await pipeline.registry.failures('docs')).toEqual([]);
    const here = startExportWorker({
      pipeline,
      config,
      recipeFor: () => recipe,
      instances: ['docs-a'],
      laterDelayMs: 200,
    });
    stops.push(() => here.close());
    await waitFor('the export', async () => (seen.done.length === 1 ? true : undefined));
    expect((await pipeline.registry.component('docs'))?.lastExport).toMatchObject({
      ok: true,
      instance: 'docs-a',
    });
  });
});
