import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, initArchive, listSnapshots } from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { type Config, type JobProgress, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { filesRecipe } from '@pullback/recipe-files';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPullWorker } from '../src/index.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
let archive: Archive;
let outbox: Backend;
let config: Config;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

beforeEach(async () => {
  scratch = await scratchDir('pull-worker');
  const root = scratch.path;
  await mkdir(join(root, 'docs'));
  await writeFile(join(root, 'docs', 'readme'), 'hello\n');
  ({ archive } = await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'key') }));
  outbox = openBackend(join(root, 'outbox'));
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

/** Waits in this file allow for a loaded machine. */
const waitLong = <T>(what: string, check: () => Promise<T | undefined>) => waitFor(what, check, 120_000);

function startWorker() {
  const worker = startPullWorker({ pipeline, config, archive, stagingDir: join(scratch.path, 'staging') });
  stops.push(() => worker.close());
  return worker;
}

async function exportDocs(exportId: string): Promise<void> {
  await filesRecipe().export({ component: 'docs', path: join(scratch.path, 'docs'), outbox, exportId });
  await pipeline.enqueuePull({ component: 'docs', epoch: 1, exportId, outbox: join(scratch.path, 'outbox') });
}

async function outboxNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const info of outbox.list('')) if (!info.name.startsWith('.tmp/')) names.push(info.name);
  return names.sort();
}

describe('pull-backup worker', () => {
  it('ingests a pulled artifact, empties the outbox and queues an import for the fallback', async () => {
    startWorker();
    await exportDocs('e1');
    const job = await waitLong('the pull', async () => {
      const [done] = await pipeline.pullQueue.getCompleted();
      return done;
    });
    expect(job.returnvalue).toMatchObject({ reused: false, imports: ['docs-b'], expired: [] });
    const [snapshot] = await listSnapshots(archive);
    expect(snapshot?.tags).toMatchObject({ component: 'docs', recipe: 'files', exportId: 'e1', epoch: '1' });
    expect(await outboxNames()).toEqual([]);
    const imports = await pipeline.importQueue('docs-b').getWaiting();
    expect(imports.map((j) => j.data)).toEqual([
      { component: 'docs', instance: 'docs-b', epoch: 1, snapshotId: snapshot?.id },
    ]);
  });

  it('refuses a corrupted staged artifact for good, and archives nothing', async () => {
    await filesRecipe().export({
      component: 'docs',
      path: join(scratch.path, 'docs'),
      outbox,
      exportId: 'e1',
    });
    const handle = await open(join(scratch.path, 'outbox', 'e1', 'files.tar'), 'r+');
    await handle.write(Buffer.from('X'), 0, 1, 600);
    await handle.close();
    await pipeline.enqueuePull({
      component: 'docs',
      epoch: 1,
      exportId: 'e1',
      outbox: join(scratch.path, 'outbox'),
    });
    startWorker();
    const failed = await waitLong('the refusal', async () => (await pipeline.pullQueue.getFailed())[0]);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(
      /^artifact e1 of docs: e1\/files\.tar in .* does not match its BLAKE3 digest in COMPLETE$/,
    );
    expect(await listSnapshots(archive)).toEqual([]);
    expect((await pipeline.registry.failures('docs'))[0]).toMatchObject({ stage: 'pull', final: true });
    expect(await pipeline.importQueue('docs-b').count()).toBe(0);
  });

  it('refuses a pull naming another outbox than the component’s', async () => {
    await pipeline.enqueuePull({ component: 'docs', epoch: 1, exportId: 'e1', outbox: '/elsewhere' });
    startWorker();
    const failed = await waitLong('the refusal', async () => (await pipeline.pullQueue.getFailed())[0]);
    expect(failed.failedReason).toMatch(/outbox \/elsewhere is not the component's/);
  });

  it('refuses for good, as a mismatch and not as corruption, a pull whose outbox is not the component’s', async () => {
    await pipeline.enqueuePull({ component: 'docs', epoch: 1, exportId: 'e1', outbox: '/elsewhere' });
    startWorker();
    const failed = await waitLong('the refusal', async () => (await pipeline.pullQueue.getFailed())[0]);
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toBe(
      `pull of e1 of docs: outbox /elsewhere is not the component's (${join(scratch.path, 'outbox')}); the job was queued for another outbox`,
    );
    expect((await pipeline.registry.failures('docs'))[0]).toMatchObject({ stage: 'pull', final: true });
    expect(await listSnapshots(archive)).toEqual([]);
  });

  it('a worker killed mid-ingest leaves no partial snapshot, and the retried job completes', async () => {
    await writeFile(join(scratch.path, 'docs', 'big'), randomBytes(48 * 1024 * 1024));
    await exportDocs('e1');
    const first = startWorker();
    await waitLong('the ingest under way', async () => {
      const [active] = await pipeline.pullQueue.getActive();
      const progress = active?.progress as JobProgress | undefined;
      return progress?.detail === 'archiving' ? true : undefined;
    });
    await first.close();
    expect(await listSnapshots(archive)).toEqual([]);
    expect(await readdir(join(scratch.path, 'staging'))).toEqual([]);
    expect(await outboxNames()).toEqual(['e1/COMPLETE', 'e1/files.tar']);

    startWorker();
    const job = await waitLong('the retried pull', async () => (await pipeline.pullQueue.getCompleted())[0]);
    expect(job.attemptsMade).toBe(2);
    const snapshots = await listSnapshots(archive);
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]?.stats.logicalBytes).toBeGreaterThan(48 * 1024 * 1024);
    expect(await outboxNames()).toEqual([]);
  });
});
