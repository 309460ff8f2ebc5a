import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKER, GearChunker, gearTable } from '../src/chunking/gear-cdc.js';
import { pseudoRandom } from './helpers/make-tree.js';

/** The definition in docs/repository-format.md §8, one byte at a time. */
function referenceCut(gear: Int32Array, data: Uint8Array, start: number, end: number): number {
  const { minSize, avgSize, maxSize } = DEFAULT_CHUNKER;
  const available = end - start;
  if (available <= minSize) return available;
  const bits = Math.round(Math.log2(avgSize));
  const small = (0xffffffff << (32 - bits - 2)) | 0;
  const large = (0xffffffff << (32 - bits + 2)) | 0;
  let h = 0;
  for (let i = start + minSize; i < start + Math.min(available, maxSize); i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & (i < start + avgSize ? small : large)) === 0) return i + 1 - start;
  }
  return Math.min(available, maxSize);
}

describe('content-defined chunking', () => {
  const gear = gearTable(Buffer.alloc(32, 7));
  const chunker = new GearChunker(gear, DEFAULT_CHUNKER);
  const data = pseudoRandom(1, 64 * 1024 * 1024);

  it('cuts where the one-byte-at-a-time definition cuts, within the size bounds', () => {
    const lengths: number[] = [];
    for (let at = 0; at < data.length; ) {
      const length = chunker.cut(data, at, data.length);
      expect(length).toBe(referenceCut(gear, data, at, data.length));
      lengths.push(length);
      at += length;
    }
    for (const length of lengths.slice(0, -1)) {
      expect(length).toBeGreaterThan(DEFAULT_CHUNKER.minSize);
      expect(length).toBeLessThanOrEqual(DEFAULT_CHUNKER.maxSize);
    }
    const average = data.length / lengths.length;
    expect(average).toBeGreaterThan(700 * 1024);
    expect(average).toBeLessThan(1600 * 1024);
  });

  it('moves only the cuts near an insertion', () => {
    const cuts = (input: Buffer) => {
      const out = new Set<string>();
      for (let at = 0; at < input.length; ) {
        const length = chunker.cut(input, at, input.length);
        out.add(input.subarray(at, at + length).toString('base64', 0, 48) + length);
        at += length;
      }
      return out;
    };
    const before = cuts(data);
    const edited = Buffer.concat([
      data.subarray(0, 20_000_000),
      Buffer.from('inserted'),
      data.subarray(20_000_000),
    ]);
    const after = cuts(edited);
    const common = [...after].filter((c) => before.has(c)).length;
    expect(after.size - common).toBeLessThanOrEqual(2);
  });
});
