import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  type Archive,
  archiveWalFile,
  backupTree,
  initArchive,
  listWal,
  segmentName,
} from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { checkWalGaps, type FullStatus, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { snapshotTags } from '@pullback/pipeline/snapshot-description';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const SEGMENT = 1024 * 1024;
const received = (n: number) => new Date(Date.parse('2026-12-06T01:00:00.000Z') + n * 60_000).toISOString();

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
let archive: Archive;
let configPath: string;

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-status-wal-gaps')]);
  const root = scratch.path;
  ({ archive } = await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') }));
  configPath = join(root, 'pullback.yaml');
  const yaml = `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(root, 'a')}, priority: 100 }
`;
  await writeFile(configPath, yaml);
  pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(parseConfig(yaml));
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'data', 'PG_VERSION'), '16\n');
  await backupTree(archive, join(root, 'data'), {
    tags: snapshotTags({
      component: 'shop',
      recipe: 'postgres',
      kind: 'physical',
      server: { systemIdentifier: '42', timeline: 1, startLsn: '0/100028', endLsn: '0/100100' },
    }),
  });
  for (const n of [1, 2, 3, 4]) {
    await archiveWalFile(archive, 'shop.42', segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
      segmentSize: SEGMENT,
      partial: false,
      firstReceivedAt: received(2 * n),
      lastReceivedAt: received(2 * n + 1),
    });
  }
});

afterAll(async () => {
  await pipeline?.close();
  await redis?.stop();
  await scratch?.remove();
});

async function walGapsShown(): Promise<FullStatus['components'][number]['walGaps']> {
  const result = await runCli(['status', '--json', '--config', configPath]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const status = JSON.parse(result.stdout) as FullStatus;
  return status.components.find((component) => component.name === 'shop')?.walGaps;
}

describe('status and verify show a gap in the archived wal', () => {
  it('a deleted segment is in status --json once the archive is checked, and goes once it is back', async () => {
    const check = () => checkWalGaps({ archive, registry: pipeline.registry, components: ['shop'] });
    await check();
    expect(await walGapsShown()).toBeUndefined();

    const name = segmentName(2n, 1, SEGMENT);
    const object = (await listWal(archive, 'shop.42')).find((info) => info.name === name)!.objectName;
    const body = await buffer(await archive.backend.load(object));
    await archive.backend.remove(object);
    await check();
    expect(await walGapsShown()).toEqual([
      {
        timeline: 1,
        fromLsn: '0/200000',
        toLsn: '0/300000',
        fromTime: received(3),
        toTime: received(6),
        cause: 'missing',
        detectedAt: expect.any(String),
      },
    ]);
    // verify says the same of the archive.
    const root = scratch.path;
    const verify = await runCli([
      'verify',
      '--archive',
      join(root, 'archive'),
      '--key-file',
      join(root, 'archive.key'),
    ]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(
      `wal stream shop.42: timeline 1: wal 0/200000 to 0/300000 is missing: no restore to a time between ${received(3)} and ${received(6)}\n`,
    );

    await archive.backend.save(object, body);
    await check();
    expect(await walGapsShown()).toBeUndefined();
  });
});
