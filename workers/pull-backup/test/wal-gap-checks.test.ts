import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, archiveWalFile, backupTree, initArchive, segmentName } from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { snapshotTags } from '@pullback/pipeline/snapshot-description';
import { filesRecipe } from '@pullback/recipe-files';
import { openBackend } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPullWorker } from '../src/index.js';

const SEGMENT = 1024 * 1024;

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

/** A postgres component `shop` whose archived WAL lacks segment 3 after its snapshot's start. */
beforeEach(async () => {
  scratch = await scratchDir('wal-gap-checks');
  const root = scratch.path;
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'data', 'PG_VERSION'), '16\n');
  ({ archive } = await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'key') }));
  config = parseConfig(`
redis: ${redis.url}
archive: { url: ${join(root, 'archive')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(root, 'a')}, priority: 0 }
`);
  pipeline = openPipeline({ redis: redis.url, prefix: `t${randomUUID().slice(0, 8)}` });
  await pipeline.register(config);
  await backupTree(archive, join(root, 'data'), {
    tags: snapshotTags({
      component: 'shop',
      recipe: 'postgres',
      kind: 'physical',
      server: { systemIdentifier: '42', timeline: 1, startLsn: '0/100028', endLsn: '0/100100' },
    }),
  });
  for (const n of [1, 2, 4]) {
    await archiveWalFile(archive, 'shop.42', segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
      segmentSize: SEGMENT,
      partial: false,
      firstReceivedAt: new Date().toISOString(),
      lastReceivedAt: new Date().toISOString(),
    });
  }
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await pipeline.close();
  await scratch.remove();
});

function startWorker(walGapIntervalMs: number) {
  const worker = startPullWorker({
    pipeline,
    config,
    archive,
    stagingDir: join(scratch.path, 'staging'),
    walGapIntervalMs,
  });
  stops.push(() => worker.close());
  return worker;
}

const gapsOf = async () => (await pipeline.registry.component('shop'))?.walGaps;

describe('wal gap checks of the pull-backup worker', () => {
  it('records the gaps of the archived wal every walGapIntervalMs', async () => {
    startWorker(200);
    const gaps = await waitFor('the gap in the registry', async () => (await gapsOf())?.[0], 120_000);
    expect(gaps).toMatchObject({ timeline: 1, fromLsn: '0/300000', toLsn: '0/400000', cause: 'missing' });
  });

  it('checks after each pull of the component, with no periodic check', async () => {
    startWorker(0);
    // Any artifact of the component will do: the check follows the pull.
    const outbox = openBackend(join(scratch.path, 'outbox'));
    await filesRecipe().export({
      component: 'shop',
      path: join(scratch.path, 'data'),
      outbox,
      exportId: 'e1',
    });
    expect(await gapsOf()).toBeUndefined();
    await pipeline.enqueuePull({
      component: 'shop',
      epoch: 1,
      exportId: 'e1',
      outbox: join(scratch.path, 'outbox'),
    });
    await waitFor('the pull', async () => (await pipeline.pullQueue.getCompleted())[0], 120_000);
    expect(await gapsOf()).toEqual([expect.objectContaining({ fromLsn: '0/300000', toLsn: '0/400000' })]);
  });
});
