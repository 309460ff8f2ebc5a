import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, initArchive } from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import {
  type Config,
  openPipeline,
  type Pipeline,
  parseConfig,
  pullArtifact,
  type Recipe,
  RecipeError,
} from '@pullback/pipeline';
import { filesRecipe } from '@pullback/recipe-files';
import { openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startImportWorker } from '../src/index.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
let archive: Archive;
let config: Config;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

beforeEach(async () => {
  scratch = await scratchDir('import-worker');
  const root = scratch.path;
  await mkdir(join(root, 'docs'));
  ({ archive } = await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'key') }));
  config = parseConfig(`
redis: ${redis.url}
archive: { url: ${join(root, 'archive')} }
components:
  docs:
    recipe: files
    path: ${join(root, 'docs')}
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(root, 'a')}, priority: 0 }
      - { name: docs-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: ${join(root, 'b')}, priority: 0 }
      - { name: docs-c, role: fallback, host: 127.0.0.1, port: 3, dataDir: ${join(root, 'c')}, priority: 0 }
`);
  pipeline = openPipeline({
    redis: redis.url,
    prefix: `t${randomUUID().slice(0, 8)}`,
    retry: { attempts: 3, backoffMs: 300 },
  });
  await pipeline.register(config);
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await pipeline.close();
  await scratch.remove();
});

/** Exports `docs` with `status` in it and pulls it, queueing imports as the pull worker does. */
async function cycle(status: string, exportId: string): Promise<string> {
  await writeFile(join(scratch.path, 'docs', 'status'), status);
  const outbox = openBackend(join(scratch.path, 'outbox'));
  await filesRecipe().export({ component: 'docs', path: join(scratch.path, 'docs'), outbox, exportId });
  const result = await pullArtifact({
    component: 'docs',
    config: config.components.docs!,
    exportId,
    epoch: 1,
    outbox,
    archive,
    stagingDir: join(scratch.path, 'staging'),
    registry: pipeline.registry,
    enqueueImport: async (job) => {
      await pipeline.enqueueImport(job);
    },
  });
  return result.snapshot.id;
}

async function start(instances: string[], recipe: Recipe = filesRecipe()) {
  const running = await startImportWorker({ pipeline, config, archive, recipeFor: () => recipe, instances });
  stops.push(() => running.close());
  return running;
}

const statusOf = (instance: string) => readFile(join(scratch.path, instance.slice(-1), 'status'), 'utf8');

async function stateOf(instance: string) {
  return (await pipeline.registry.instance(instance))?.state;
}

describe('import worker', () => {
  it('a fallback whose agent is down when its imports arrive catches up, newest only, when it returns', async () => {
    await start(['docs-b']);
    const first = await cycle('first\n', 'e1');
    const at = (instance: string, snapshot: string) => async () => {
      const state = await stateOf(instance);
      return state?.snapshotId === snapshot && state.healthy ? true : undefined;
    };
    await waitFor('docs-b at the first snapshot', at('docs-b', first));
    const second = await cycle('second\n', 'e2');
    await waitFor('docs-b at the second snapshot', at('docs-b', second));
    expect(await statusOf('docs-b')).toBe('second\n');
    // docs-c's agent was away for both: two imports wait for it.
    expect(await pipeline.importQueue('docs-c').count()).toBe(2);

    await start(['docs-c']);
    await waitFor('docs-c at the second snapshot', at('docs-c', second));
    expect(await statusOf('docs-c')).toBe('second\n');
    const done = await waitFor('both imports done', async () => {
      const completed = await pipeline.importQueue('docs-c').getCompleted();
      return completed.length === 2 ? completed : undefined;
    });
    const results = done.map((job) => [
      job.data.snapshotId,
      job.returnvalue.applied,
      job.returnvalue.skipped,
    ]);
    expect(results).toEqual(
      expect.arrayContaining([
        [first, false, 'superseded'],
        [second, true, undefined],
      ]),
    );
    const status = await pipeline.readStatus();
    expect(status.components[0]?.instances.filter((i) => i.atLastSnapshot).map((i) => i.name)).toEqual([
      'docs-b',
      'docs-c',
    ]);
  });

  it('a fallback that fails to start is retried, flagged while failing, and recovers when it can start', async () => {
    let failures = 0;
    const flaky: Recipe = {
      ...filesRecipe(),
      async afterRestore(target) {
        if (failures < 2) {
          failures++;
          throw new RecipeError(`fallback ${target.instance.name} of docs: could not start (port in use)`);
        }
        return { running: true, inRecovery: true };
      },
    };
    await start(['docs-b'], flaky);
    const first = await cycle('first\n', 'e1');
    const job = await waitFor(
      'the import',
      async () => (await pipeline.importQueue('docs-b').getCompleted())[0],
    );
    // Two failed attempts, then the one that succeeded.
    expect(job.attemptsMade).toBe(3);
    expect(await stateOf('docs-b')).toMatchObject({ snapshotId: first, healthy: true, running: true });
    expect((await pipeline.registry.snapshotHealth('docs'))[first]?.state).toBe('good');
    const recorded = await pipeline.registry.failures('docs');
    expect(recorded.map((f) => [f.stage, f.instance, f.final])).toEqual([
      ['import', 'docs-b', false],
      ['import', 'docs-b', false],
    ]);
  });

  it('a fallback whose imports ran out of attempts catches up when its agent restarts', async () => {
    const broken: Recipe = {
      ...filesRecipe(),
      async afterRestore() {
        throw new RecipeError('fallback docs-b of docs: data disk unreachable');
      },
    };
    const first = await start(['docs-b'], broken);
    const snapshot = await cycle('first\n', 'e1');
    await waitFor(
      'the import to fail for good',
      async () => (await pipeline.importQueue('docs-b').getFailed())[0],
    );
    expect(await stateOf('docs-b')).toMatchObject({
      healthy: false,
      reason: 'fallback docs-b of docs: data disk unreachable',
    });
    expect((await pipeline.readStatus()).components[0]?.badSnapshots[snapshot]).toMatchObject({
      instance: 'docs-b',
    });
    await first.close();

    await start(['docs-b']);
    await waitFor('docs-b healthy', async () => ((await stateOf('docs-b'))?.healthy ? true : undefined));
    expect(await statusOf('docs-b')).toBe('first\n');
    expect((await pipeline.registry.snapshotHealth('docs'))[snapshot]?.state).toBe('good');
  });

  it('reseeds a fallback its agent reports as needing a reseed at once, not at the next snapshot', async () => {
    const running = await startImportWorker({
      pipeline,
      config,
      archive,
      recipeFor: () => filesRecipe(),
      instances: ['docs-b'],
      positionIntervalMs: 200,
    });
    stops.push(() => running.close());
    const snapshot = await cycle('first\n', 'e1');
    const before = await waitFor('docs-b at the snapshot', async () => {
      const state = await stateOf('docs-b');
      return state?.snapshotId === snapshot && state.healthy ? state : undefined;
    });
    // The old active's data directory, which its agent could not rewind (workers/agent rejoin.ts).
    await writeFile(join(scratch.path, 'b', 'status'), 'diverged\n');
    const reason =
      'cannot start docs-b: cannot rewind it as a fallback of docs-a at epoch 1: pg_rewind failed; it needs reseeding';
    expect(
      await pipeline.registry.replaceFallbackState('docs', 'docs-b', 1, before, {
        ...before,
        healthy: false,
        running: false,
        reason,
        updatedAt: new Date().toISOString(),
      }),
    ).toBe(true);

    await waitFor('docs-b reseeded', async () => {
      const state = await stateOf('docs-b');
      return state?.healthy && (await statusOf('docs-b')) === 'first\n' ? true : undefined;
    });
    const done = await waitFor('the reseed job', async () => {
      const completed = await pipeline.importQueue('docs-b').getCompleted();
      return completed.length === 2 ? completed : undefined;
    });
    expect(done.map((job) => job.data.snapshotId)).toEqual([snapshot, snapshot]);
    // No new snapshot: the one it had, restored again over what it held.
    expect(done.map((job) => job.returnvalue.applied)).toEqual([true, true]);
  });

  it('the position reporter runs one round at a time and is stopped, its round ended, before close returns', async () => {
    const errors: string[] = [];
    const own = openPipeline({
      redis: redis.url,
      prefix: `t${randomUUID().slice(0, 8)}`,
      onError: (error, where) => errors.push(`${where}: ${error.message}`),
    });
    await own.register(config);
    await own.registry.reportFallback('docs', 'docs-b', 1, {
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
    // A position query that answers only when released (a server slow to answer on a loaded machine).
    let rounds = 0;
    let underWay = 0;
    let mostAtOnce = 0;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: Recipe = {
      ...filesRecipe(),
      async position(_instance, options = {}) {
        rounds++;
        underWay++;
        mostAtOnce = Math.max(mostAtOnce, underWay);
        try {
          await Promise.race([
            released,
            new Promise((_, reject) =>
              options.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true }),
            ),
          ]);
          return { running: true, inRecovery: true };
        } finally {
          underWay--;
        }
      },
    };
    const running = await startImportWorker({
      pipeline: own,
      config,
      archive,
      recipeFor: () => slow,
      instances: ['docs-b'],
      catchUp: false,
      positionIntervalMs: 20,
    });
    await waitFor('a position round', async () => (rounds > 0 ? true : undefined));
    // Many intervals pass while the first round waits: none may start another round.
    const since = Date.now();
    await waitFor('ten intervals', async () => (Date.now() - since > 200 ? true : undefined), 10_000, 20);
    await running.close();
    const roundEndedBeforeClose = underWay === 0;
    // An aborted round reports nothing: docs-b is not marked unreachable by a shutdown.
    const state = (await own.registry.instance('docs-b'))?.state;
    await own.close();
    release();
    expect(roundEndedBeforeClose).toBe(true);
    expect(mostAtOnce).toBe(1);
    expect(errors).toEqual([]);
    expect(state).toMatchObject({ healthy: true });
  });

  it("keeps the spares a postgres component's `wal.spares` asks for in each fallback's spool", async () => {
    const spool = join(scratch.path, 'spool');
    await mkdir(spool);
    const shop = parseConfig(`
redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    wal: { spares: 2 }
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(scratch.path, 'a')}, priority: 0 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: ${join(scratch.path, 'b')}, priority: 0 }
`);
    const withSpool: Recipe = {
      ...filesRecipe(),
      name: 'postgres',
      walSpool: async () => ({ dir: spool, systemIdentifier: undefined }),
    };
    const running = await startImportWorker({
      pipeline,
      config: shop,
      archive,
      recipeFor: () => withSpool,
      instances: ['shop-b'],
      catchUp: false,
      positionIntervalMs: 0,
    });
    stops.push(() => running.close());
    await waitFor('two spares made', async () => {
      const spares = (await readdir(spool)).filter((name) => name.startsWith('spare.'));
      return spares.length === 2 ? spares : undefined;
    });
    for (const name of ['spare.000', 'spare.001'])
      expect((await stat(join(spool, name))).size).toBe(16 * 1024 * 1024);
  });
});
