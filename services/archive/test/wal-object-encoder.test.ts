import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  NONCE_BYTES,
  SEAL_OVERHEAD,
  seal,
  sealInPlace,
  TAG_BYTES,
  unseal,
  unsealInPlace,
} from '../src/crypto/seal.js';
import {
  zstdCompressBound,
  zstdCompressInto,
  zstdDecompress,
  zstdFrameHasChecksum,
} from '../src/pack/zstd-codec.js';
import { decodeWalObject, encodeWalObject, type WalHeader, WalObjectEncoder } from '../src/wal/wal-object.js';
import { pseudoRandom } from './helpers/make-tree.js';

const key = randomBytes(32);
const MiB = 1024 * 1024;

function headerOf(name: string, content: Buffer, partial: boolean): WalHeader {
  return {
    name,
    segmentSize: MiB,
    contentBytes: content.length,
    partial,
    firstReceivedAt: '2026-12-06T00:00:00.000Z',
    lastReceivedAt: '2026-12-06T00:00:01.000Z',
  };
}

/** WAL-like: compressible pages with random bits, none ending in zeros. */
function walLike(seed: number, length: number): Buffer {
  const bytes = Buffer.alloc(length, 0x33 + seed);
  for (let at = 0; at + 600 < length; at += 8192) pseudoRandom(seed * 1000 + at, 512).copy(bytes, at + 16);
  return bytes;
}

describe('sealing in place', () => {
  it('makes the box seal would, across piece boundaries, which opens only under its aad', () => {
    const aad = Buffer.from('context');
    for (const length of [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024 + 5]) {
      const plain = pseudoRandom(length, length);
      const buffer = Buffer.alloc(100 + NONCE_BYTES + length + TAG_BYTES + 50, 0xee);
      plain.copy(buffer, 100 + NONCE_BYTES);
      const end = sealInPlace(key, buffer, 100 + NONCE_BYTES, length, aad);
      expect(end).toBe(100 + length + SEAL_OVERHEAD);
      const box = buffer.subarray(100, end);
      expect(unseal(key, box, aad)?.equals(plain)).toBe(true);
      expect(unseal(key, box, Buffer.from('another context'))).toBeUndefined();
      // Nothing outside the box was touched.
      expect(buffer.subarray(0, 100).every((byte) => byte === 0xee)).toBe(true);
      expect(buffer.subarray(end).every((byte) => byte === 0xee)).toBe(true);
    }
  });

  it('opens a box in place, across piece boundaries, as unseal does; refuses another aad or a flipped bit', () => {
    const aad = Buffer.from('context');
    for (const length of [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 3 * 64 * 1024 + 5]) {
      const plain = pseudoRandom(length + 7, length);
      const box = seal(key, plain, aad);
      const buffer = Buffer.concat([Buffer.alloc(30, 0xee), box, Buffer.alloc(20, 0xee)]);
      const opened = unsealInPlace(key, Buffer.from(buffer), 30, 30 + box.length, aad);
      expect(opened?.equals(plain)).toBe(true);
      const inBuffer = Buffer.from(buffer);
      const view = unsealInPlace(key, inBuffer, 30, 30 + box.length, aad);
      // A view of the buffer, not a copy: nothing allocated of the box's size.
      expect(view?.buffer).toBe(inBuffer.buffer);
      expect(view?.byteOffset).toBe(inBuffer.byteOffset + 30 + NONCE_BYTES);
      expect(inBuffer.subarray(0, 30).every((byte) => byte === 0xee)).toBe(true);
      expect(
        unsealInPlace(key, Buffer.from(buffer), 30, 30 + box.length, Buffer.from('other')),
      ).toBeUndefined();
      const flipped = Buffer.from(buffer);
      flipped[30 + Math.floor(box.length / 2)]! ^= 1;
      expect(unsealInPlace(key, flipped, 30, 30 + box.length, aad)).toBeUndefined();
    }
    expect(unsealInPlace(key, Buffer.alloc(40), 0, SEAL_OVERHEAD - 1, aad)).toBeUndefined();
  });

  it('refuses a buffer with no room for the nonce or the tag', () => {
    const buffer = Buffer.alloc(100);
    expect(() => sealInPlace(key, buffer, NONCE_BYTES - 1, 10, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => sealInPlace(key, buffer, NONCE_BYTES, 100 - NONCE_BYTES, Buffer.alloc(0))).toThrow(
      RangeError,
    );
  });
});

describe('zstd into a kept buffer', () => {
  it('writes a checksummed frame that decompresses to the plaintext', () => {
    const plain = walLike(1, 300_000);
    const out = Buffer.alloc(zstdCompressBound(plain.length));
    const length = zstdCompressInto(plain, out);
    expect(length).toBeLessThan(plain.length / 4);
    expect(zstdFrameHasChecksum(out.subarray(0, length))).toBe(true);
    expect(zstdDecompress(out.subarray(0, length), plain.length).equals(plain)).toBe(true);
  });
});

describe('a wal object encoder', () => {
  it('builds each object in one kept buffer, and each decodes to its own content', () => {
    const encoder = new WalObjectEncoder(MiB);
    const first = walLike(2, 300_001);
    const second = walLike(3, 700_001);
    const firstName = 'wal/s.1/00000001/000000010000000000000002.partial';
    const secondName = 'wal/s.1/00000001/000000010000000000000003.partial';
    const a = encoder.encode(
      key,
      firstName,
      headerOf('000000010000000000000002', first, true),
      first,
      'zstd',
    );
    const aCopy = Buffer.from(a);
    expect(decodeWalObject(key, firstName, a).content.subarray(0, first.length).equals(first)).toBe(true);
    const b = encoder.encode(
      key,
      secondName,
      headerOf('000000010000000000000003', second, true),
      second,
      'zstd',
    );
    // The same memory: the second object overwrote the first (which is why stores through one encoder never overlap).
    expect(b.buffer).toBe(a.buffer);
    expect(decodeWalObject(key, secondName, b).content.subarray(0, second.length).equals(second)).toBe(true);
    expect(decodeWalObject(key, firstName, aCopy).content.subarray(0, first.length).equals(first)).toBe(true);
    // Smaller than its content, and no larger than one encoded afresh (the same format).
    const fresh = encodeWalObject(
      key,
      secondName,
      headerOf('000000010000000000000003', second, true),
      second,
      'zstd',
    );
    expect(b.length).toBe(fresh.length);
    expect(b.length).toBeLessThan(second.length / 4);
  });

  it('stores incompressible, tiny and lz4 contents the same way', () => {
    const encoder = new WalObjectEncoder();
    const cases: [string, Buffer, 'zstd' | 'lz4'][] = [
      ['000000010000000000000004', pseudoRandom(4, MiB), 'zstd'],
      ['00000002.history', Buffer.from('1\t0/3000000\tno recovery target specified\n'), 'zstd'],
      ['000000010000000000000005', walLike(5, MiB), 'lz4'],
      ['000000010000000000000006', walLike(6, 200_000), 'zstd'],
    ];
    for (const [name, content, compression] of cases) {
      const objectName = `wal/s.1/00000001/${name}`;
      const object = encoder.encode(key, objectName, headerOf(name, content, false), content, compression);
      expect(decodeWalObject(key, objectName, object).content.equals(content)).toBe(true);
    }
  });

  it('encodes content read piece by piece, across piece boundaries, compressed as well as given whole', async () => {
    const encoder = new WalObjectEncoder(MiB);
    const piece = 256 * 1024;
    for (const [length, make] of [
      [65, walLike],
      [piece - 1, walLike],
      [piece, walLike],
      [piece + 1, walLike],
      [MiB, walLike],
      [piece + 7, pseudoRandom],
    ] as const) {
      const content = make(length, length);
      const name = '000000010000000000000009';
      const objectName = `wal/s.1/00000001/${name}.partial`;
      const reads: number[] = [];
      const readAt = async (into: Buffer, position: number) => {
        reads.push(into.length);
        content.copy(into, 0, position, position + into.length);
      };
      const header = headerOf(name, content, true);
      const object = await encoder.encodeFrom(key, objectName, header, readAt, 'zstd');
      expect(decodeWalObject(key, objectName, object).content.subarray(0, length).equals(content)).toBe(true);
      // Compressed like content given whole (a frame of other blocks, a few bytes apart).
      const whole = encodeWalObject(key, objectName, header, content, 'zstd').length;
      expect(Math.abs(object.length - whole)).toBeLessThan(64);
      // Never read whole, beyond one piece.
      expect(Math.max(...reads)).toBeLessThanOrEqual(make === pseudoRandom ? length : piece);
    }
  });
});
