import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveWalFile, segmentName, verifyArchive, walObjectName } from '../src/index.js';
import { readAll } from '../src/repository/stream-bytes.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

const SEGMENT = 1024 * 1024;
const STREAM = 'db.7301';
const minute = (n: number, s: number) =>
  `2026-12-06T02:${String(n).padStart(2, '0')}:${String(s).padStart(2, '0')}.000Z`;

describe.each(['fs', 's3'] as const)('verify of the wal on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['walverify'] });
      backend = openBackend('s3://walverify/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`wal-verify-${driver}`, backend);
    for (const n of [1, 2, 3, 4, 5]) {
      await archiveWalFile(ws.archive, STREAM, segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
        segmentSize: SEGMENT,
        partial: false,
        firstReceivedAt: minute(n, 0),
        lastReceivedAt: minute(n, 59),
      });
    }
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('passes a continuous chain, and reports a deleted segment as a gap with the times it costs', async () => {
    const clean = await verifyArchive(ws.archive);
    expect(clean.problems).toEqual([]);
    expect(clean.walObjects).toBe(5);

    await ws.backend.remove(walObjectName(STREAM, '000000010000000000000003'));
    const result = await verifyArchive(ws.archive);
    expect(result.ok).toBe(false);
    expect(result.walObjects).toBe(4);
    expect(result.problems).toEqual([
      {
        stream: STREAM,
        walGap: {
          stream: STREAM,
          timeline: 1,
          startLsn: '0/300000',
          endLsn: '0/400000',
          startTime: minute(2, 59),
          endTime: minute(4, 0),
        },
        message: `timeline 1: wal 0/300000 to 0/400000 is missing: no restore to a time between ${minute(2, 59)} and ${minute(4, 0)}`,
      },
    ]);
  });

  it('reports a wal object that does not open; a damaged body only when reading data', async () => {
    const name = walObjectName(STREAM, '000000010000000000000005');
    const original = await readAll(await ws.backend.load(name));
    try {
      const damaged = Buffer.from(original);
      damaged[damaged.length - 20]! ^= 1;
      await ws.backend.save(name, damaged);
      const quick = await verifyArchive(ws.archive);
      expect(quick.problems.filter((p) => p.walGap === undefined)).toEqual([]);
      const full = await verifyArchive(ws.archive, { readData: true });
      expect(full.problems.filter((p) => p.walGap === undefined)).toEqual([
        { stream: STREAM, message: `wal object ${name}: body fails authentication` },
      ]);

      // A segment stored under another name fails on its header: verify says which.
      const other = walObjectName(STREAM, '000000010000000000000006');
      await ws.backend.save(other, original);
      const moved = await verifyArchive(ws.archive);
      expect(moved.problems.filter((p) => p.walGap === undefined)).toEqual([
        { stream: STREAM, message: `wal object ${other}: header fails authentication` },
      ]);
      await ws.backend.remove(other);
    } finally {
      await ws.backend.save(name, original);
    }
  });
});
