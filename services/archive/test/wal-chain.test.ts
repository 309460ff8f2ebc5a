import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveWalFile, listWal, removeWalBefore, segmentName, walChain } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

const SEGMENT = 1024 * 1024;
const first = (n: number) => `2026-12-06T01:${String(n).padStart(2, '0')}:00.000Z`;
const last = (n: number) => `2026-12-06T01:${String(n).padStart(2, '0')}:59.000Z`;

/** Stores segment `number` of `timeline` (received during minute `number`), or its first `partialBytes`. */
async function store(ws: Workspace, stream: string, timeline: number, number: number, partialBytes?: number) {
  const content = Buffer.alloc(partialBytes ?? SEGMENT, number + 1);
  await archiveWalFile(ws.archive, stream, segmentName(BigInt(number), timeline, SEGMENT), content, {
    segmentSize: SEGMENT,
    partial: partialBytes !== undefined,
    firstReceivedAt: first(number),
    lastReceivedAt: last(number),
  });
}

async function storeHistory(ws: Workspace, stream: string, timeline: number, lines: string) {
  await archiveWalFile(
    ws.archive,
    stream,
    `${String(timeline).padStart(8, '0')}.history`,
    Buffer.from(lines),
    {
      segmentSize: SEGMENT,
      partial: false,
      firstReceivedAt: first(0),
      lastReceivedAt: first(0),
    },
  );
}

describe.each(['fs', 's3'] as const)('the wal chain on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['chain'] });
      backend = openBackend('s3://chain/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`wal-chain-${driver}`, backend);
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('finds the runs, a missing segment as a gap with its times, and the end at the partial', async () => {
    for (const n of [1, 2, 3, 5, 6]) await store(ws, 'gap.1', 1, n);
    await store(ws, 'gap.1', 1, 7, 1000);
    const chain = await walChain(ws.archive, 'gap.1');
    expect(chain.segmentSize).toBe(SEGMENT);
    expect(chain.timelines[0]?.runs).toEqual([
      {
        firstSegment: '000000010000000000000001',
        lastSegment: '000000010000000000000003',
        segments: 3,
        startLsn: '0/100000',
        endLsn: '0/400000',
      },
      {
        firstSegment: '000000010000000000000005',
        lastSegment: '000000010000000000000007',
        segments: 3,
        startLsn: '0/500000',
        endLsn: '0/7003E8',
      },
    ]);
    expect(chain.gaps).toEqual([
      {
        stream: 'gap.1',
        timeline: 1,
        startLsn: '0/400000',
        endLsn: '0/500000',
        startTime: last(3),
        endTime: first(5),
      },
    ]);
    expect(chain.start).toEqual({
      timeline: 1,
      segment: '000000010000000000000001',
      lsn: '0/100000',
      partial: false,
      receivedAt: first(1),
    });
    expect(chain.end).toEqual({
      timeline: 1,
      segment: '000000010000000000000007',
      lsn: '0/7003E8',
      partial: true,
      receivedAt: last(7),
    });
  });

  it('follows a timeline switch without a gap, and does not need the old timeline past the switch', async () => {
    for (const n of [1, 2, 3]) await store(ws, 'switch.1', 1, n);
    // The old timeline went on past the switch, with a hole: not needed, not a gap.
    await store(ws, 'switch.1', 1, 5);
    await storeHistory(ws, 'switch.1', 2, '1\t0/380000\tno recovery target specified\n');
    for (const n of [3, 4]) await store(ws, 'switch.1', 2, n);
    const chain = await walChain(ws.archive, 'switch.1');
    expect(chain.gaps).toEqual([]);
    expect(chain.timelines.map((t) => [t.timeline, t.parent, t.hasHistory])).toEqual([
      [1, undefined, false],
      [2, { timeline: 1, switchLsn: '0/380000' }, true],
    ]);
    expect(chain.timelines[1]?.runs.map((run) => [run.startLsn, run.endLsn])).toEqual([
      ['0/300000', '0/500000'],
    ]);
    expect(chain.start?.segment).toBe('000000010000000000000001');
    expect(chain.end).toMatchObject({ timeline: 2, segment: '000000020000000000000004', lsn: '0/500000' });
  });

  it('reports WAL missing before a switch on the parent, and at the start of the new timeline', async () => {
    for (const n of [1, 3]) await store(ws, 'broken.1', 1, n);
    await storeHistory(ws, 'broken.1', 2, '1\t0/580000\tno recovery target specified\n');
    for (const n of [6, 7]) await store(ws, 'broken.1', 2, n);
    const chain = await walChain(ws.archive, 'broken.1');
    expect(
      chain.gaps.map((gap) => [gap.timeline, gap.startLsn, gap.endLsn, gap.startTime, gap.endTime]),
    ).toEqual([
      [1, '0/200000', '0/300000', last(1), first(3)],
      [1, '0/400000', '0/500000', last(3), undefined],
      [2, '0/580000', '0/600000', undefined, first(6)],
    ]);
  });

  it('reports the WAL after a partial inside the chain as a gap, unless the partial received it all', async () => {
    await store(ws, 'mid.1', 1, 1);
    await store(ws, 'mid.1', 1, 2, 1000);
    await store(ws, 'mid.1', 1, 3);
    // A partial that received its whole segment: nothing is missing after it.
    await store(ws, 'mid.1', 1, 4, SEGMENT);
    await store(ws, 'mid.1', 1, 5);
    const chain = await walChain(ws.archive, 'mid.1');
    expect(chain.gaps).toEqual([
      {
        stream: 'mid.1',
        timeline: 1,
        startLsn: '0/2003E8',
        endLsn: '0/300000',
        startTime: last(2),
        endTime: first(3),
      },
    ]);
    expect(chain.timelines[0]?.runs.map((run) => [run.startLsn, run.endLsn, run.segments])).toEqual([
      ['0/100000', '0/2003E8', 2],
      ['0/300000', '0/600000', 3],
    ]);
    expect(chain.end).toMatchObject({ segment: '000000010000000000000005', lsn: '0/600000', partial: false });
  });

  it('reports WAL missing after a whole partial before a switch', async () => {
    await store(ws, 'wholepartial.1', 1, 1);
    await store(ws, 'wholepartial.1', 1, 2, SEGMENT);
    await storeHistory(ws, 'wholepartial.1', 2, '1\t0/480000\tno recovery target specified\n');
    await store(ws, 'wholepartial.1', 2, 4);
    const chain = await walChain(ws.archive, 'wholepartial.1');
    expect(chain.gaps.map((gap) => [gap.timeline, gap.startLsn, gap.endLsn, gap.startTime])).toEqual([
      [1, '0/300000', '0/400000', last(2)],
    ]);
  });

  it('is empty for a stream without segments', async () => {
    expect(await walChain(ws.archive, 'none.1')).toEqual({ stream: 'none.1', timelines: [], gaps: [] });
  });

  it('removes the segments wholly before an lsn on timelines up to one, and nothing else', async () => {
    for (const n of [1, 2, 3, 4]) await store(ws, 'keep.1', 1, n);
    await store(ws, 'keep.1', 1, 2, 500);
    await storeHistory(ws, 'keep.1', 2, '1\t0/380000\tno recovery target specified\n');
    for (const n of [3, 4, 5]) await store(ws, 'keep.1', 2, n);
    await store(ws, 'keep.1', 2, 6, 700);
    const before = await listWal(ws.archive, 'keep.1');
    const removed = await removeWalBefore(ws.archive, 'keep.1', { timeline: 2, lsn: '0/380000' });
    const after = await listWal(ws.archive, 'keep.1');
    const gone = before.filter((o) => !after.some((a) => a.objectName === o.objectName));
    expect(gone.map((o) => o.objectName.split('/').pop())).toEqual([
      '000000010000000000000001',
      '000000010000000000000002',
      '000000010000000000000002.partial',
    ]);
    expect(removed).toEqual({ removed: 3, bytes: gone.reduce((sum, o) => sum + o.storedBytes, 0) });
    // A snapshot on timeline 1 only: timeline 2 is left alone.
    expect((await removeWalBefore(ws.archive, 'keep.1', { timeline: 1, lsn: '0/500000' })).removed).toBe(2);
    expect((await listWal(ws.archive, 'keep.1')).map((o) => o.objectName.split('/').pop())).toEqual([
      '00000002.history',
      '000000020000000000000003',
      '000000020000000000000004',
      '000000020000000000000005',
      '000000020000000000000006.partial',
    ]);
    expect(await removeWalBefore(ws.archive, 'nothing.1', { timeline: 1, lsn: '0/500000' })).toEqual({
      removed: 0,
      bytes: 0,
    });
  });
});
