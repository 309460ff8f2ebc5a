import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareLsn,
  formatLsn,
  isArchiveError,
  lsnOfSegment,
  nextSegment,
  parseLsn,
  parseWalName,
  parseWalStream,
  segmentOfLsn,
  segmentStart,
  timelineOfWalName,
  walName,
  walObjectName,
  walStreamName,
} from '../src/index.js';
import { decodeWalObject, encodeWalObject, receivedPrefix } from '../src/wal/wal-object.js';
import { parseWalObjectName } from '../src/wal/wal-paths.js';

const MiB = 1024 * 1024;
const segmentSizes = fc.integer({ min: 20, max: 30 }).map((bits) => 2 ** bits);
const lsns = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
const timelines = fc.integer({ min: 1, max: 0xffffffff });

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isArchiveError(error, 'bad-wal-name')) return error.message;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('wal names', () => {
  it('knows PostgreSQL names, partials and history files, and their timelines', () => {
    expect(segmentOfLsn('0/3000028', 1, 16 * MiB)).toBe('000000010000000000000003');
    expect(segmentOfLsn('16/B374D848', 2, 16 * MiB)).toBe('0000000200000016000000B3');
    expect(lsnOfSegment('0000000200000016000000B3', 16 * MiB)).toBe('16/B3000000');
    expect(nextSegment('0000000100000000000000FF', 16 * MiB)).toBe('000000010000000100000000');
    expect(nextSegment('000000010000000000000FFF', 1 * MiB)).toBe('000000010000000100000000');
    expect(timelineOfWalName('0000000A0000000000000003.partial')).toBe(10);
    expect(timelineOfWalName('0000000B.history')).toBe(11);
    expect(parseWalName('000000010000000000000003.partial')).toMatchObject({
      kind: 'segment',
      name: '000000010000000000000003',
      partial: true,
    });
    expect(walObjectName('shop.7301', '000000020000000000000003')).toBe(
      'wal/shop.7301/00000002/000000020000000000000003',
    );
    expect(walObjectName('shop.7301', '000000020000000000000003', true)).toBe(
      'wal/shop.7301/00000002/000000020000000000000003.partial',
    );
    expect(walObjectName('shop.7301', '00000002.history')).toBe('wal/shop.7301/history/00000002.history');
    expect(parseWalStream(walStreamName('my.shop', '7301234'))).toEqual({
      component: 'my.shop',
      systemIdentifier: '7301234',
    });
  });

  it('refuses what is not a wal name, lsn, segment size or stream with one line', () => {
    expect(refusal(() => walName('00000001000000000000003'))).toBe(
      'not a wal file name: "00000001000000000000003"',
    );
    expect(refusal(() => walName('0000000A000000000000000B'.toLowerCase()))).toMatch(/not a wal file name/);
    expect(refusal(() => walName('000000000000000000000003'))).toMatch(/not a wal file name/);
    expect(refusal(() => walName('../00000001.history'))).toMatch(/not a wal file name/);
    expect(refusal(() => parseLsn('3000028'))).toBe('not an lsn: "3000028"');
    expect(refusal(() => segmentOfLsn('0/1', 1, 3 * MiB))).toBe('not a wal segment size: 3145728');
    // 16 MiB segments number 0 to FF within each 4 GiB.
    expect(refusal(() => lsnOfSegment('000000010000000000000100', 16 * MiB))).toMatch(/for 16777216-byte/);
    expect(refusal(() => walObjectName('../etc', '00000001.history'))).toBe(
      'not a wal stream name: "../etc"',
    );
    expect(refusal(() => walStreamName('shop', 'x'))).toBe('not a wal stream name: "shop.x"');
    expect(refusal(() => walStreamName('-shop', '1'))).toMatch(/not a wal stream name/);
  });

  it('converts between lsns and segments both ways (property)', () => {
    fc.assert(
      fc.property(lsns, timelines, segmentSizes, (lsn, timeline, segmentSize) => {
        expect(parseLsn(formatLsn(lsn))).toBe(lsn);
        expect(parseLsn(formatLsn(lsn).toLowerCase())).toBe(lsn);
        const segment = segmentOfLsn(formatLsn(lsn), timeline, segmentSize);
        const parsed = parseWalName(segment);
        expect(parsed?.kind).toBe('segment');
        expect(parsed?.timeline).toBe(timeline);
        const start = segmentStart(segment, segmentSize);
        expect(start <= lsn && lsn < start + BigInt(segmentSize)).toBe(true);
        expect(parseLsn(lsnOfSegment(segment, segmentSize))).toBe(start);
        expect(segmentOfLsn(start, timeline, segmentSize)).toBe(segment);
        if (start + BigInt(segmentSize) <= 0xffff_ffff_ffff_ffffn) {
          const next = nextSegment(segment, segmentSize);
          expect(segmentStart(next, segmentSize)).toBe(start + BigInt(segmentSize));
          expect(next > segment).toBe(true);
        }
        expect(parseWalObjectName(walObjectName('c.1', segment))).toMatchObject({
          stream: 'c.1',
          file: { name: segment },
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('orders lsns as numbers, not as strings', () => {
    fc.assert(
      fc.property(lsns, lsns, (a, b) => {
        expect(Math.sign(compareLsn(formatLsn(a), formatLsn(b)))).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
      { numRuns: 1000 },
    );
    expect(compareLsn('0/A000000', '0/9000000')).toBe(1);
  });

  it('stores a partial as its received prefix and pads it back (property)', () => {
    const key = randomBytes(32);
    const segmentSize = 1 * MiB;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
        fc.integer({ min: 0, max: segmentSize - 20_000 }),
        fc.constantFrom<'zstd' | 'lz4'>('zstd', 'lz4'),
        (bytes, offset, compression) => {
          // WAL as pg_receivewal leaves it: written bytes, then zeros to the segment's end.
          const written = Buffer.from(bytes);
          const file = Buffer.alloc(segmentSize);
          written.copy(file, offset);
          const prefix = receivedPrefix(file);
          expect(prefix.length <= offset + written.length).toBe(true);
          expect(file.subarray(prefix.length).every((byte) => byte === 0)).toBe(true);
          expect(prefix.length === 0 || prefix[prefix.length - 1] !== 0).toBe(true);
          const header = {
            name: '000000010000000000000003',
            segmentSize,
            contentBytes: prefix.length,
            partial: true,
            firstReceivedAt: '2026-12-06T00:00:00.000Z',
            lastReceivedAt: '2026-12-06T00:00:01.000Z',
          };
          const objectName = 'wal/c.1/00000001/000000010000000000000003.partial';
          const object = encodeWalObject(key, objectName, header, prefix, compression);
          const opened = decodeWalObject(key, objectName, object);
          expect(opened.header).toEqual(header);
          expect(opened.content.equals(file)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
