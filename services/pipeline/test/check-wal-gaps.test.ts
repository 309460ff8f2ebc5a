import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  type Archive,
  archiveWalFile,
  backupTree,
  forgetSnapshots,
  initArchive,
  listWal,
  segmentName,
} from '@pullback/archive';
import { type RedisServer, type S3Server, scratchDir, startRedis, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { snapshotTags } from '../src/domain/snapshot-description.js';
import { checkWalGaps, connectRedis, forgetWal, parseConfig, type Redis, Registry } from '../src/index.js';
import type { WalGap } from '../src/registry/records.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const SEGMENT = 1024 * 1024;
const T0 = Date.parse('2026-12-06T01:00:00.000Z');

/** Segment `n`'s WAL was received from minute 2n to minute 2n+1 after T0. */
const firstReceived = (n: number) => new Date(T0 + 2 * n * 60_000).toISOString();
const lastReceived = (n: number) => new Date(T0 + (2 * n + 1) * 60_000).toISOString();

async function storeWal(archive: Archive, stream: string, numbers: number[]): Promise<void> {
  for (const n of numbers) {
    await archiveWalFile(archive, stream, segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
      segmentSize: SEGMENT,
      partial: false,
      firstReceivedAt: firstReceived(n),
      lastReceivedAt: lastReceived(n),
    });
  }
}

async function serverSnapshot(
  archive: Archive,
  source: string,
  component: string,
  systemIdentifier: string,
  startLsn: string,
): Promise<void> {
  await backupTree(archive, source, {
    tags: snapshotTags({
      component,
      recipe: 'postgres',
      kind: 'physical',
      server: { systemIdentifier, timeline: 1, startLsn, endLsn: startLsn },
    }),
  });
}

/** The object of segment `n` of `stream`, as the backend holds it. */
async function segmentObject(archive: Archive, stream: string, n: number): Promise<string> {
  const name = segmentName(BigInt(n), 1, SEGMENT);
  const info = (await listWal(archive, stream)).find((object) => object.name === name && !object.partial);
  if (info === undefined) throw new Error(`segment ${name} of ${stream} is not archived`);
  return info.objectName;
}

const CONFIG = `
redis: redis://127.0.0.1:1
archive: { url: /tmp/archive }
components:
${['db', 'lost', 'broken']
  .map(
    (name) => `  ${name}:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: ${name}-a, role: active, host: 127.0.0.1, port: ${5432 + ['db', 'lost', 'broken'].indexOf(name)}, dataDir: /srv/${name}, priority: 100 }
`,
  )
  .join('')}  docs:
    recipe: files
    path: /srv/docs
    outbox: /tmp/outbox
`;

let redis: RedisServer;
let connection: Redis;

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
});

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
});

async function freshRegistry(): Promise<Registry> {
  const registry = new Registry(connection, { prefix: testPrefix() });
  await registry.registerConfig(parseConfig(CONFIG));
  return registry;
}

describe.each(['fs', 's3'] as const)('wal gaps in the registry, %s archive', (driver) => {
  let s3: S3Server | undefined;
  let archive: Archive;
  let remove: () => Promise<void>;
  let source: string;

  beforeAll(async () => {
    const scratch = await scratchDir('check-wal-gaps');
    remove = scratch.remove;
    let backend: Backend | string = join(scratch.path, 'archive');
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['gaps'] });
      backend = openBackend('s3://gaps/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ({ archive } = await initArchive({ archive: backend, keyFile: join(scratch.path, 'key') }));
    source = join(scratch.path, 'source');
    await mkdir(source);
    await writeFile(join(source, 'PG_VERSION'), '16\n');
  });
  afterAll(async () => {
    await remove?.();
    await s3?.stop();
  });

  it('records a deleted segment as a missing gap with its lsns and times, and drops it once the segment is back', async () => {
    const registry = await freshRegistry();
    // An older server of the component: its stream is not the one checked.
    await serverSnapshot(archive, source, 'db', '41', '0/100000');
    await storeWal(archive, 'db.41', [1, 3]);
    await serverSnapshot(archive, source, 'db', '42', '0/100028');
    await storeWal(archive, 'db.42', [1, 2, 3, 4, 5]);
    const check = (at: string) =>
      checkWalGaps({ archive, registry, components: ['db', 'docs'], now: () => new Date(at) });

    expect(await check('2026-12-06T02:00:00.000Z')).toEqual([
      { component: 'db', stream: 'db.42', gaps: [] },
      // Files have no server, so no WAL.
      { component: 'docs', gaps: [] },
    ]);
    expect((await registry.component('db'))?.walGaps).toEqual([]);

    const object = await segmentObject(archive, 'db.42', 3);
    const body = await buffer(await archive.backend.load(object));
    await archive.backend.remove(object);
    const gap: WalGap = {
      timeline: 1,
      fromLsn: '0/300000',
      toLsn: '0/400000',
      fromTime: lastReceived(2),
      toTime: firstReceived(4),
      cause: 'missing',
      detectedAt: '2026-12-06T02:01:00.000Z',
    };
    await check('2026-12-06T02:01:00.000Z');
    expect((await registry.component('db'))?.walGaps).toEqual([gap]);
    // Found again later, it is the same gap: detected when first found.
    await check('2026-12-06T02:02:00.000Z');
    expect((await registry.component('db'))?.walGaps).toEqual([gap]);

    await archive.backend.save(object, body);
    await check('2026-12-06T02:03:00.000Z');
    expect((await registry.component('db'))?.walGaps).toEqual([]);
  });

  it("keeps the receiver's slot-lost gaps while they matter, and no gap before the oldest kept snapshot", async () => {
    const registry = await freshRegistry();
    await serverSnapshot(archive, source, 'lost', '7', '0/300000');
    // Segment 2 is before the oldest snapshot's start: no gap. Segment 5 went with the slot.
    await storeWal(archive, 'lost.7', [1, 3, 4, 6, 7]);
    const lostSlot: WalGap = {
      timeline: 1,
      fromLsn: '0/500000',
      toLsn: '0/580000',
      toTime: lastReceived(5),
      cause: 'slot-lost',
      detectedAt: '2026-12-06T01:11:00.000Z',
    };
    // Recorded as the receiver restarted, before the WAL after it is stored.
    const afterEnd: WalGap = { ...lostSlot, fromLsn: '0/800000', toLsn: '0/880000' };
    await registry.recordWalGaps('lost', [lostSlot, afterEnd]);

    await checkWalGaps({ archive, registry, components: ['lost'] });
    // The chain's gap at segment 5 is the receiver's: recorded once, with its cause.
    expect((await registry.component('lost'))?.walGaps).toEqual([lostSlot, afterEnd]);

    await storeWal(archive, 'lost.7', [8, 9]);
    await checkWalGaps({ archive, registry, components: ['lost'] });
    expect((await registry.component('lost'))?.walGaps).toEqual([lostSlot]);

    // Retention leaves the gap behind: it no longer matters.
    await serverSnapshot(archive, source, 'lost', '7', '0/700000');
    await forgetSnapshots(archive, { component: 'lost', policy: { keepLast: 1 } });
    await forgetWal(archive, { component: 'lost' });
    await checkWalGaps({ archive, registry, components: ['lost'] });
    expect((await registry.component('lost'))?.walGaps).toEqual([]);
  });

  it('reports a stream that cannot be read, and still checks the other components', async () => {
    const registry = await freshRegistry();
    await serverSnapshot(archive, source, 'broken', '9', '0/100000');
    await storeWal(archive, 'broken.9', [1]);
    await archive.backend.save(await segmentObject(archive, 'broken.9', 1), Buffer.from('not a segment'));
    const failures: [string, string][] = [];
    const checked = await checkWalGaps({
      archive,
      registry,
      components: ['broken', 'docs'],
      onError: (error, component) => failures.push([component, error.message]),
    });
    expect(failures).toEqual([['broken', expect.stringMatching(/broken\.9/)]]);
    expect(checked).toEqual([{ component: 'docs', gaps: [] }]);
    await expect(checkWalGaps({ archive, registry, components: ['broken'] })).rejects.toThrow(/broken\.9/);
  });
});

describe('recording wal gaps', () => {
  it('never erases a gap the receiver records while a check is under way', async () => {
    const registry = await freshRegistry();
    const lostSlot: WalGap = {
      timeline: 1,
      fromLsn: '0/500000',
      toLsn: '0/580000',
      cause: 'slot-lost',
      detectedAt: '2026-12-06T01:11:00.000Z',
    };
    const seen: (readonly WalGap[])[] = [];
    const recorded = await registry.updateWalGaps('db', (current) => {
      seen.push(current);
      // The receiver writes between the check's read and its write (sent first on this connection).
      if (seen.length === 1) void registry.recordWalGaps('db', [lostSlot]);
      return current.filter((gap) => gap.cause === 'slot-lost');
    });
    expect(seen).toEqual([[], [lostSlot]]);
    expect(recorded).toEqual([lostSlot]);
    expect((await registry.component('db'))?.walGaps).toEqual([lostSlot]);
    expect(await registry.updateWalGaps('nowhere', () => [lostSlot])).toBeUndefined();
  });
});
