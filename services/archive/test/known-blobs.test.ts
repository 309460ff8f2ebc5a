import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KnownBlobs } from '../src/backup/known-blobs.js';
import { idKey } from '../src/blob-index/blob-location.js';

const ID_BYTES = 32;

/** Ids laid in a buffer as an index file lays them: at `first + i * stride`. */
function laidOut(
  ids: readonly Buffer[],
  first: number,
  stride: number,
): { bytes: Buffer; offsets: number[] } {
  const bytes = Buffer.alloc(first + ids.length * stride);
  const offsets = ids.map((id, i) => {
    id.copy(bytes, first + i * stride);
    return first + i * stride;
  });
  return { bytes, offsets };
}

describe('KnownBlobs', () => {
  it('answers as a set of the ids it was given, from index bytes and from this run', () => {
    const id = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES }).map((bytes) => Buffer.from(bytes));
    // Ids that share their first four bytes (the table's hash) collide on purpose.
    const colliding = fc
      .uint8Array({ minLength: ID_BYTES - 4, maxLength: ID_BYTES - 4 })
      .map((tail) => Buffer.concat([Buffer.from([1, 2, 3, 4]), tail]));
    const anyId = fc.oneof(id, colliding);
    fc.assert(
      fc.property(
        fc.array(fc.array(anyId, { maxLength: 60 }), { maxLength: 5 }),
        fc.array(anyId, { maxLength: 40 }),
        fc.array(anyId, { maxLength: 40 }),
        fc.nat(40),
        (files, addedLater, probes, expected) => {
          const known = new KnownBlobs(expected);
          const truth = new Set<string>();
          for (const ids of files) {
            const { bytes, offsets } = laidOut(ids, 7, 46);
            known.addFrom(bytes, offsets);
            for (const one of ids) truth.add(idKey(one));
          }
          for (const one of addedLater) {
            known.add(idKey(one));
            truth.add(idKey(one));
          }
          for (const one of [...files.flat(), ...addedLater, ...probes]) {
            expect(known.has(idKey(one))).toBe(truth.has(idKey(one)));
          }
          // `where` gives every place the index files hold an id (a file may list it twice), no other.
          for (const one of [...files.flat(), ...probes]) {
            const places = known.where(idKey(one));
            const listed = files.flat().filter((other) => other.equals(one)).length;
            expect(places).toHaveLength(listed);
            for (const { bytes, at } of places)
              expect(bytes.subarray(at, at + ID_BYTES).equals(one)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('grows past the size it was made for and still finds every id', () => {
    const ids = Array.from({ length: 50_000 }, () => randomBytes(ID_BYTES));
    const known = new KnownBlobs(10);
    const { bytes, offsets } = laidOut(ids.slice(0, 30_000), 0, ID_BYTES);
    known.addFrom(bytes, offsets);
    const rest = laidOut(ids.slice(30_000), 3, 40);
    known.addFrom(rest.bytes, rest.offsets);
    expect(known.size).toBe(50_000);
    expect(ids.every((one) => known.has(idKey(one)))).toBe(true);
    // A near miss (one bit off in the last byte) is not known.
    const near = Buffer.from(ids[123]!);
    near[ID_BYTES - 1]! ^= 1;
    expect(known.has(idKey(near))).toBe(false);
  });
});
