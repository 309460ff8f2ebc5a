import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a script, without types.
import { compilePageChecksumWat } from '../scripts/page-checksum-wasm.mjs';
import { PAGE_SIZE, pageChecksum } from '../src/chunking/page-checksum.js';
import { checksumsOfPages } from '../src/chunking/page-checksum-batch.js';
import { PAGE_CHECKSUM_WASM } from '../src/chunking/page-checksum-wasm.js';

/** The reference: PostgreSQL's algorithm written out in JS, page by page. */
function reference(bytes: Uint8Array, firstBlock: number): number[] {
  const copy = new Uint8Array(bytes).buffer;
  return Array.from({ length: Math.floor(bytes.length / PAGE_SIZE) }, (_, i) =>
    pageChecksum(new Uint32Array(copy, i * PAGE_SIZE, PAGE_SIZE / 4), firstBlock + i),
  );
}

describe('PostgreSQL page checksums with SIMD', () => {
  it('are the reference sums for any pages and block numbers, across batches of 128 pages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
        (pages, firstBlock, seed, tail) => {
          // Random words, a buffer not at offset 0 of its memory, and a partial page after the last.
          const bytes = Buffer.alloc(pages * PAGE_SIZE + tail + 1).subarray(1);
          let state = seed;
          for (let i = 0; i + 4 <= bytes.length; i += 4) {
            state = (Math.imul(state, 1103515245) + 12345) >>> 0;
            bytes.writeUInt32LE(state, i);
          }
          expect([...checksumsOfPages(bytes, firstBlock)]).toEqual(reference(bytes, firstBlock));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('change with any bit of a page but pd_checksum, and with the block number', () => {
    const page = Buffer.alloc(PAGE_SIZE, 0x37);
    const sum = checksumsOfPages(page, 7)[0];
    expect(checksumsOfPages(page, 8)[0]).not.toBe(sum);
    for (const at of [0, 7, 10, 11, 12, 4095, PAGE_SIZE - 1]) {
      const flipped = Buffer.from(page);
      flipped[at]! ^= 0x01;
      expect(checksumsOfPages(flipped, 7)[0], `byte ${at}`).not.toBe(sum);
    }
    // pd_checksum itself (bytes 8 and 9) is not summed.
    const stamped = Buffer.from(page);
    stamped.writeUInt16LE(0xbeef, 8);
    expect(checksumsOfPages(stamped, 7)[0]).toBe(sum);
  });

  it('are compiled from page-checksum.wat as it is now', async () => {
    const compiled: Buffer = await compilePageChecksumWat();
    expect(compiled.toString('base64')).toBe(PAGE_CHECKSUM_WASM);
  });
});
