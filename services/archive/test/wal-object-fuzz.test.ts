import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptDataError } from '../src/index.js';
import { decodeWalObject, encodeWalObject, openWalHeader, walHeaderEnd } from '../src/wal/wal-object.js';

const key = randomBytes(32);
const NAME = 'wal/fuzz.1/00000001/000000010000000000000003.partial';
const header = {
  name: '000000010000000000000003',
  segmentSize: 1024 * 1024,
  contentBytes: 5000,
  partial: true,
  firstReceivedAt: '2026-12-06T00:00:00.000Z',
  lastReceivedAt: '2026-12-06T00:00:01.000Z',
};
const content = Buffer.alloc(5000, 7);
content.write('not all the same bytes', 100);
const valid = {
  zstd: encodeWalObject(key, NAME, header, content, 'zstd'),
  lz4: encodeWalObject(key, NAME, header, content, 'lz4'),
};

/** Opening `bytes` either succeeds or fails with CorruptDataError: never another error, a crash or a hang. */
function opensCleanly(bytes: Buffer): void {
  for (const open of [
    () => decodeWalObject(key, NAME, bytes),
    () => openWalHeader(key, NAME, bytes),
    () => walHeaderEnd(NAME, bytes),
  ]) {
    try {
      open();
    } catch (error) {
      expect(error).toBeInstanceOf(CorruptDataError);
      expect((error as Error).message.startsWith(`wal object ${NAME}: `)).toBe(true);
    }
  }
}

const mutation = fc.oneof(
  // flip some bits
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  // cut the object short
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // append garbage
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  // rewrite the clear header length
  fc.record({ kind: fc.constant('length' as const), value: fc.nat({ max: 0xffffffff }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(object: Buffer, change: Mutation): Buffer {
  const bytes = Buffer.from(object);
  switch (change.kind) {
    case 'flip':
      bytes[change.at % bytes.length]! ^= 1 << change.bit;
      return bytes;
    case 'truncate':
      return bytes.subarray(0, change.at % bytes.length);
    case 'append':
      return Buffer.concat([bytes, Buffer.from(change.bytes)]);
    default:
      if (bytes.length >= 12) bytes.writeUInt32LE(change.value, 8);
      return bytes;
  }
}

describe('the wal object parser under fuzzing', () => {
  it('gives a clean corrupt-data error for random bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 4096 }),
          // random bytes behind a valid magic, so the parser gets past the first check
          fc.uint8Array({ maxLength: 4096 }).map((tail) => Buffer.concat([valid.lz4.subarray(0, 8), tail])),
        ),
        (bytes) => opensCleanly(Buffer.from(bytes)),
      ),
      { numRuns: 3000 },
    );
  });

  it('gives a clean corrupt-data error for every mutation of a valid object', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('zstd', 'lz4' as const),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (codec, changes) => {
          let bytes = valid[codec as 'zstd' | 'lz4'];
          for (const change of changes) bytes = mutate(bytes, change);
          opensCleanly(bytes);
          if (!bytes.equals(valid[codec as 'zstd' | 'lz4'])) {
            expect(() => decodeWalObject(key, NAME, bytes)).toThrow(CorruptDataError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('opens the unmutated objects', () => {
    for (const object of Object.values(valid)) {
      const opened = decodeWalObject(key, NAME, object);
      expect(opened.header).toEqual(header);
      expect(opened.content.subarray(0, 5000).equals(content)).toBe(true);
      expect(opened.content.length).toBe(1024 * 1024);
    }
  });
});
