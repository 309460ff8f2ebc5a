import { open, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, type ByteRange, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  archiveWalFile,
  archiveWalFileAt,
  CorruptDataError,
  fetchWalFile,
  isArchiveError,
  listWal,
  listWalStreams,
  openArchive,
  readWalHeader,
  WalObjectEncoder,
  WalReadBuffers,
  walObjectName,
} from '../src/index.js';
import { readAll } from '../src/repository/stream-bytes.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

const MiB = 1024 * 1024;
const STREAM = 'shop.7301234567890123456';
const times = (partial: boolean, segmentSize = 16 * MiB) => ({
  segmentSize,
  partial,
  firstReceivedAt: '2026-12-06T01:00:00.000Z',
  lastReceivedAt: '2026-12-06T01:00:05.000Z',
});

/** WAL-like bytes: compressible records with random payloads, no zero byte (a prefix ends in no zero). */
function walBytes(seed: number, length: number): Buffer {
  const bytes = Buffer.alloc(length, 0x5a);
  for (let at = 0; at < length; at += 8192) {
    bytes.writeUInt32LE(0xd116 + seed, at);
    pseudoRandom(seed + at, 512).copy(bytes, at + 16, 0, Math.min(512, length - at - 16));
  }
  return bytes;
}

/** pg_receivewal's partial file: the bytes received, then zeros up to the segment's size. */
function partialFile(received: Buffer, segmentSize: number): Buffer {
  const file = Buffer.alloc(segmentSize);
  received.copy(file);
  return file;
}

/** A backend that records every load's name and range (to show a header read stays small). */
function recording(inner: Backend, loads: { name: string; range?: ByteRange }[]): Backend {
  return {
    location: inner.location,
    properties: inner.properties,
    save: (name, body, options) => inner.save(name, body, options),
    load: (name, range, options) => {
      loads.push(range === undefined ? { name } : { name, range });
      return inner.load(name, range, options);
    },
    stat: (name, options) => inner.stat(name, options),
    list: (prefix, options) => inner.list(prefix, options),
    remove: (name, options) => inner.remove(name, options),
  };
}

async function objectExists(backend: Backend, name: string): Promise<boolean> {
  for await (const info of backend.list(name)) if (info.name === name) return true;
  return false;
}

describe.each(['fs', 's3'] as const)('the archive wal store on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['wal'] });
      backend = openBackend('s3://wal/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`wal-${driver}`, backend);
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('stores a 16 MiB segment compressed and fetches it back byte for byte', async () => {
    const segment = walBytes(1, 16 * MiB);
    await archiveWalFile(ws.archive, STREAM, '000000010000000000000001', segment, times(false));
    const fetched = await fetchWalFile(ws.archive, STREAM, '000000010000000000000001');
    expect(fetched?.content.equals(segment)).toBe(true);
    expect(fetched?.header).toEqual({
      name: '000000010000000000000001',
      segmentSize: 16 * MiB,
      contentBytes: 16 * MiB,
      partial: false,
      firstReceivedAt: '2026-12-06T01:00:00.000Z',
      lastReceivedAt: '2026-12-06T01:00:05.000Z',
    });
    const stored = await ws.backend.stat(walObjectName(STREAM, '000000010000000000000001'));
    expect(stored.size).toBeLessThan(segment.length / 4);
    expect(await fetchWalFile(ws.archive, STREAM, '000000010000000000000009')).toBeUndefined();
  });

  it('stores a partial as its received prefix, pads it back, and replaces it with the complete segment', async () => {
    const segmentSize = 1 * MiB;
    const name = '000000010000000000000020';
    const whole = walBytes(2, segmentSize);
    const received = whole.subarray(0, 300_001);
    await archiveWalFile(
      ws.archive,
      STREAM,
      name,
      partialFile(received, segmentSize),
      times(true, segmentSize),
    );
    // Without allowPartial, a partial is not the segment.
    expect(await fetchWalFile(ws.archive, STREAM, name)).toBeUndefined();
    const partial = await fetchWalFile(ws.archive, STREAM, name, { allowPartial: true });
    expect(partial?.header).toMatchObject({ partial: true, contentBytes: received.length, segmentSize });
    expect(partial?.content.equals(partialFile(received, segmentSize))).toBe(true);
    expect((await fetchWalFile(ws.archive, STREAM, `${name}.partial`))?.header.contentBytes).toBe(
      received.length,
    );

    // The partial grows, then the complete segment replaces it.
    const more = whole.subarray(0, 700_001);
    await archiveWalFile(ws.archive, STREAM, name, more, times(true, segmentSize));
    expect((await readWalHeader(ws.archive, STREAM, name, { partial: true }))?.contentBytes).toBe(
      more.length,
    );
    await archiveWalFile(ws.archive, STREAM, name, whole, times(false, segmentSize));
    expect(await objectExists(ws.backend, walObjectName(STREAM, name, true))).toBe(false);
    const complete = await fetchWalFile(ws.archive, STREAM, name, { allowPartial: true });
    expect(complete?.header.partial).toBe(false);
    expect(complete?.content.equals(whole)).toBe(true);
  });

  it('stores through one kept encoder: partials of two segments and a segment, each fetched as its own bytes', async () => {
    const segmentSize = 1 * MiB;
    const encoder = new WalObjectEncoder(segmentSize);
    const [a, b] = ['000000010000000000000040', '000000010000000000000041'];
    const wholeA = walBytes(30, segmentSize);
    const wholeB = walBytes(31, segmentSize);
    await archiveWalFile(ws.archive, STREAM, a, wholeA.subarray(0, 400_001), times(true, segmentSize), {
      encoder,
    });
    await archiveWalFile(ws.archive, STREAM, b, wholeB.subarray(0, 200_001), times(true, segmentSize), {
      encoder,
    });
    await archiveWalFile(ws.archive, STREAM, a, wholeA, times(false, segmentSize), { encoder });
    await archiveWalFile(ws.archive, STREAM, b, wholeB.subarray(0, 900_001), times(true, segmentSize), {
      encoder,
    });
    expect((await fetchWalFile(ws.archive, STREAM, a))?.content.equals(wholeA)).toBe(true);
    const partialB = await fetchWalFile(ws.archive, STREAM, b, { allowPartial: true });
    expect(partialB?.header.contentBytes).toBe(900_001);
    expect(partialB?.content.equals(partialFile(wholeB.subarray(0, 900_001), segmentSize))).toBe(true);
  });

  it('fetches through kept buffers: each file its own bytes, the object buffer grown once, a partial zero-padded over a dirty buffer', async () => {
    const segmentSize = 1 * MiB;
    const names = ['000000010000000000000050', '000000010000000000000051', '000000010000000000000052'];
    // Poorly compressible first (a large object), then a small one, then a partial.
    const first = pseudoRandom(50, segmentSize);
    const second = walBytes(51, segmentSize);
    const third = walBytes(52, segmentSize).subarray(0, 100_001);
    await archiveWalFile(ws.archive, STREAM, names[0]!, second, times(false, segmentSize));
    await archiveWalFile(ws.archive, STREAM, names[1]!, first, times(false, segmentSize));
    await archiveWalFile(ws.archive, STREAM, names[2]!, third, times(true, segmentSize));
    const buffers = new WalReadBuffers(Buffer.alloc(segmentSize));
    const small = await fetchWalFile(ws.archive, STREAM, names[0]!, { buffers });
    expect(small?.content.equals(second)).toBe(true);
    expect(small?.content.buffer).toBe(buffers.content.buffer);
    const large = await fetchWalFile(ws.archive, STREAM, names[1]!, { buffers });
    expect(large?.content.equals(first)).toBe(true);
    const grown = buffers.object.buffer;
    expect(grown.length).toBeGreaterThan(segmentSize);
    expect((await fetchWalFile(ws.archive, STREAM, names[0]!, { buffers }))?.content.equals(second)).toBe(
      true,
    );
    const partial = await fetchWalFile(ws.archive, STREAM, names[2]!, { buffers, allowPartial: true });
    expect(partial?.content.equals(partialFile(third, segmentSize))).toBe(true);
    expect(buffers.object.buffer).toBe(grown);
    // A damaged object still fails authentication when opened in place.
    const objectName = walObjectName(STREAM, names[0]!);
    const bytes = await readAll(await ws.backend.load(objectName));
    bytes[bytes.length - 100]! ^= 1;
    await ws.backend.save(objectName, bytes);
    await expect(fetchWalFile(ws.archive, STREAM, names[0]!, { buffers })).rejects.toThrow(
      /body fails authentication/,
    );
  });

  it('stores from an open file, read in pieces: a partial without its trailing zeros, then the segment', async () => {
    const segmentSize = 1 * MiB;
    const name = '000000010000000000000042';
    const whole = walBytes(32, segmentSize);
    const path = ws.path('spool-file');
    const encoder = new WalObjectEncoder(segmentSize);
    // Received 600 001 bytes; the length given runs 70 000 bytes into the zeros after them.
    await writeFile(path, partialFile(whole.subarray(0, 600_001), segmentSize));
    const file = await open(path, 'r');
    try {
      await archiveWalFileAt(ws.archive, STREAM, name, file, 670_001, times(true, segmentSize), { encoder });
      const partial = await fetchWalFile(ws.archive, STREAM, name, { allowPartial: true });
      expect(partial?.header.contentBytes).toBe(600_001);
      expect(partial?.content.equals(partialFile(whole.subarray(0, 600_001), segmentSize))).toBe(true);
      await expect(
        archiveWalFileAt(ws.archive, STREAM, name, file, segmentSize + 1, times(true, segmentSize)),
      ).rejects.toThrow(/longer than its segment size/);
    } finally {
      await file.close();
    }
    await writeFile(path, whole);
    const complete = await open(path, 'r');
    try {
      await archiveWalFileAt(ws.archive, STREAM, name, complete, segmentSize, times(false, segmentSize), {
        encoder,
      });
    } finally {
      await complete.close();
    }
    expect((await fetchWalFile(ws.archive, STREAM, name))?.content.equals(whole)).toBe(true);
    expect(await objectExists(ws.backend, walObjectName(STREAM, name, true))).toBe(false);
  });

  it('refuses a complete segment of the wrong size and a history file stored as partial', async () => {
    const wrong = await archiveWalFile(
      ws.archive,
      STREAM,
      '000000010000000000000030',
      Buffer.alloc(1000, 1),
      times(false, 1 * MiB),
    ).catch((error: unknown) => error);
    expect(isArchiveError(wrong, 'bad-wal-name') && wrong.message).toBe(
      `wal segment 000000010000000000000030 of stream ${STREAM} is 1000 bytes, not its segment size 1048576`,
    );
    const history = await archiveWalFile(
      ws.archive,
      STREAM,
      '00000002.history',
      Buffer.from('1\t0/3000000\tno recovery target specified\n'),
      times(true, 1 * MiB),
    ).catch((error: unknown) => error);
    expect(isArchiveError(history, 'bad-wal-name')).toBe(true);
    expect(await objectExists(ws.backend, walObjectName(STREAM, '000000010000000000000030'))).toBe(false);
  });

  it('refuses a wal object renamed or moved: it opens only under its own name', async () => {
    const segmentSize = 1 * MiB;
    await archiveWalFile(
      ws.archive,
      'moved.1',
      '000000010000000000000005',
      walBytes(5, segmentSize),
      times(false, segmentSize),
    );
    const bytes = await readAll(await ws.backend.load(walObjectName('moved.1', '000000010000000000000005')));
    await ws.backend.save(walObjectName('moved.1', '000000010000000000000006'), bytes);
    await ws.backend.save(walObjectName('moved.2', '000000010000000000000005'), bytes);
    const renamed = await fetchWalFile(ws.archive, 'moved.1', '000000010000000000000006').catch(
      (e: unknown) => e,
    );
    expect(renamed).toBeInstanceOf(CorruptDataError);
    expect((renamed as CorruptDataError).message).toBe(
      'wal object wal/moved.1/00000001/000000010000000000000006: header fails authentication',
    );
    expect((renamed as CorruptDataError).hint).toMatch(/moved or renamed/);
    await expect(fetchWalFile(ws.archive, 'moved.2', '000000010000000000000005')).rejects.toThrow(
      CorruptDataError,
    );
    await expect(readWalHeader(ws.archive, 'moved.2', '000000010000000000000005')).rejects.toThrow(
      /wal object wal\/moved.2\/00000001\/000000010000000000000005: header fails authentication/,
    );
    // A flipped byte in the body: the header still opens, the body does not.
    const name3 = walObjectName('moved.3', '000000010000000000000005');
    await archiveWalFile(
      ws.archive,
      'moved.3',
      '000000010000000000000005',
      walBytes(5, segmentSize),
      times(false, segmentSize),
    );
    const damaged = await readAll(await ws.backend.load(name3));
    damaged[damaged.length - 100]! ^= 0x40;
    await ws.backend.save(name3, damaged);
    expect((await readWalHeader(ws.archive, 'moved.3', '000000010000000000000005'))?.contentBytes).toBe(
      segmentSize,
    );
    await expect(fetchWalFile(ws.archive, 'moved.3', '000000010000000000000005')).rejects.toThrow(
      `wal object ${name3}: body fails authentication`,
    );
  });

  it('lists streams and their objects from the backend list alone, sorted by timeline then name', async () => {
    const stream = 'listed.42';
    const segmentSize = 1 * MiB;
    const segment = walBytes(7, segmentSize);
    await archiveWalFile(ws.archive, stream, '000000020000000000000004', segment, times(false, segmentSize));
    await archiveWalFile(ws.archive, stream, '000000010000000000000003', segment, times(false, segmentSize));
    await archiveWalFile(
      ws.archive,
      stream,
      '00000002.history',
      Buffer.from('1\t0/4000000\tno recovery target specified\n'),
      times(false, segmentSize),
    );
    await archiveWalFile(
      ws.archive,
      stream,
      '000000020000000000000005',
      segment.subarray(0, 1000),
      times(true, segmentSize),
    );
    await archiveWalFile(ws.archive, stream, '000000010000000000000002', segment, times(false, segmentSize));
    // Not WAL: left out of the listing.
    await ws.backend.save(`wal/${stream}/00000001/notes.txt`, Buffer.from('x'));

    const loads: { name: string }[] = [];
    const archive = await openArchive({ archive: recording(ws.backend, loads), keyFile: ws.keyFile });
    loads.length = 0;
    const listed = await listWal(archive, stream);
    expect(loads).toEqual([]);
    expect(listed.map((info) => [info.timeline, info.name, info.partial, info.history])).toEqual([
      [1, '000000010000000000000002', false, false],
      [1, '000000010000000000000003', false, false],
      [2, '00000002.history', false, true],
      [2, '000000020000000000000004', false, false],
      [2, '000000020000000000000005', true, false],
    ]);
    expect(listed.every((info) => info.stream === stream && info.storedBytes > 0)).toBe(true);
    expect(listed[4]?.objectName).toBe(`wal/${stream}/00000002/000000020000000000000005.partial`);
    expect(await listWalStreams(archive)).toEqual(expect.arrayContaining([stream, STREAM]));
    expect((await listWalStreams(archive)).includes('nothing.1')).toBe(false);
    expect(await listWal(archive, 'nothing.1')).toEqual([]);

    const history = await fetchWalFile(archive, stream, '00000002.history');
    expect(history?.content.toString()).toBe('1\t0/4000000\tno recovery target specified\n');
  });

  it('reads a header with one small range load, never the body', async () => {
    const segmentSize = 16 * MiB;
    await archiveWalFile(ws.archive, 'header.9', '000000030000000000000007', walBytes(9, segmentSize), {
      ...times(false, segmentSize),
      lastReceivedAt: '2026-12-06T01:00:09.500Z',
    });
    const loads: { name: string; range?: ByteRange }[] = [];
    const archive = await openArchive({ archive: recording(ws.backend, loads), keyFile: ws.keyFile });
    loads.length = 0;
    const header = await readWalHeader(archive, 'header.9', '000000030000000000000007');
    expect(header).toEqual({
      name: '000000030000000000000007',
      segmentSize,
      contentBytes: segmentSize,
      partial: false,
      firstReceivedAt: '2026-12-06T01:00:00.000Z',
      lastReceivedAt: '2026-12-06T01:00:09.500Z',
    });
    expect(loads).toEqual([
      { name: 'wal/header.9/00000003/000000030000000000000007', range: { offset: 0, length: 4096 } },
    ]);
    expect(await readWalHeader(archive, 'header.9', '000000030000000000000008')).toBeUndefined();
    expect(
      await readWalHeader(archive, 'header.9', '000000030000000000000007', { partial: true }),
    ).toBeUndefined();
  });
});
