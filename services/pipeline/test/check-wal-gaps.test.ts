import { buffer } from 'node:stream/consumers';
import { type Archive, forgetSnapshots, listWal, segmentName } from '@pullback/archive';
import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkWalGaps, connectRedis, forgetWal, parseConfig, type Redis, Registry } from '../src/index.js';
import type { WalGap } from '../src/registry/records.js';
import { testPrefix } from './helpers/fixtures.js';
import { archiveOn, SEGMENT, serverSnapshot, storeWal } from './helpers/wal-archive.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const T0 = Date.parse('2026-12-06T01:00:00.000Z');

/** Segment `n`'s WAL was received from minute 2n to minute 2n+1 after T0. */
const firstReceived = (n: number) => new Date(T0 + 2 * n * 60_000).toISOString();
const lastReceived = (n: number) => new Date(T0 + (2 * n + 1) * 60_000).toISOString();
const received = (n: number) => ({ firstReceivedAt: firstReceived(n), lastReceivedAt: lastReceived(n) });

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
  const on = archiveOn(driver, 'check-wal-gaps', 'gaps');

  it('records a deleted segment as a missing gap with its lsns and times, and drops it once the segment is back', async () => {
    const registry = await freshRegistry();
    // An older server of the component: its stream is not the one checked.
    await serverSnapshot(on.archive, on.source, 'db', '41', '0/100000');
    await storeWal(on.archive, 'db.41', [1, 3], received);
    await serverSnapshot(on.archive, on.source, 'db', '42', '0/100028');
    await storeWal(on.archive, 'db.42', [1, 2, 3, 4, 5], received);
    const check = (at: string) =>
      checkWalGaps({ archive: on.archive, registry, components: ['db', 'docs'], now: () => new Date(at) });

    expect(await check('2026-12-06T02:00:00.000Z')).toEqual([
      { component: 'db', stream: 'db.42', gaps: [] },
      // Files have no server, so no WAL.
      { component: 'docs', gaps: [] },
    ]);
    expect((await registry.component('db'))?.walGaps).toEqual([]);

    const object = await segmentObject(on.archive, 'db.42', 3);
    const body = await buffer(await on.archive.backend.load(object));
    await on.archive.backend.remove(object);
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

    await on.archive.backend.save(object, body);
    await check('2026-12-06T02:03:00.000Z');
    expect((await registry.component('db'))?.walGaps).toEqual([]);
  });

  it("keeps the receiver's slot-lost gaps while they matter, and no gap before the oldest kept snapshot", async () => {
    const registry = await freshRegistry();
    await serverSnapshot(on.archive, on.source, 'lost', '7', '0/300000');
    // Segment 2 is before the oldest snapshot's start: no gap. Segment 5 went with the slot.
    await storeWal(on.archive, 'lost.7', [1, 3, 4, 6, 7], received);
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

    await checkWalGaps({ archive: on.archive, registry, components: ['lost'] });
    // The chain's gap at segment 5 is the receiver's: recorded once, with its cause.
    expect((await registry.component('lost'))?.walGaps).toEqual([lostSlot, afterEnd]);

    await storeWal(on.archive, 'lost.7', [8, 9], received);
    await checkWalGaps({ archive: on.archive, registry, components: ['lost'] });
    expect((await registry.component('lost'))?.walGaps).toEqual([lostSlot]);

    // Retention leaves the gap behind: it no longer matters.
    await serverSnapshot(on.archive, on.source, 'lost', '7', '0/700000');
    await forgetSnapshots(on.archive, { component: 'lost', policy: { keepLast: 1 } });
    await forgetWal(on.archive, { component: 'lost' });
    await checkWalGaps({ archive: on.archive, registry, components: ['lost'] });
    expect((await registry.component('lost'))?.walGaps).toEqual([]);
  });

  it('reports a stream that cannot be read, and still checks the other components', async () => {
    const registry = await freshRegistry();
    await serverSnapshot(on.archive, on.source, 'broken', '9', '0/100000');
    await storeWal(on.archive, 'broken.9', [1], received);
    await on.archive.backend.save(
      await segmentObject(on.archive, 'broken.9', 1),
      Buffer.from('not a segment'),
    );
    const failures: [string, string][] = [];
    const checked = await checkWalGaps({
      archive: on.archive,
      registry,
      components: ['broken', 'docs'],
      onError: (error, component) => failures.push([component, error.message]),
    });
    expect(failures).toEqual([['broken', expect.stringMatching(/broken\.9/)]]);
    expect(checked).toEqual([{ component: 'docs', gaps: [] }]);
    await expect(checkWalGaps({ archive: on.archive, registry, components: ['broken'] })).rejects.toThrow(
      /broken\.9/,
    );
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
