import { randomBytes } from 'node:crypto';

const CHUNK = 256 * 1024;
const POOL = 1024 * 1024;
// An odd stride through the pool: chunk k starts at k × STRIDE mod POOL, a different
// place for each of the 4,096 chunks of 1 GiB, so a misplaced chunk is caught.
const STRIDE = 4099;

/**
 * Random-looking bytes at memory speed, and a check of them at memory speed: chunk k
 * is a window of a random pool at an offset that depends on k. The benchmark then
 * measures storage, not a random generator or a hash.
 */
export class RandomishBytes {
  // The pool plus a copy of its first chunk, so every window is one contiguous slice.
  private readonly pool: Buffer;

  constructor() {
    this.pool = randomBytes(POOL + CHUNK);
    this.pool.copy(this.pool, POOL, 0, CHUNK);
  }

  /** `size` bytes as fresh chunks, like a real producer hands them out. */
  *chunks(size: number): Generator<Buffer> {
    for (let position = 0, k = 0; position < size; position += CHUNK, k++) {
      const start = this.offsetOf(k);
      yield Buffer.from(this.pool.subarray(start, start + Math.min(CHUNK, size - position)));
    }
  }

  /** Whether `chunk`, read at `position` of the object, holds the bytes `chunks` made there. */
  matches(chunk: Buffer, position: number): boolean {
    for (let done = 0; done < chunk.length; ) {
      const at = position + done;
      const within = at % CHUNK;
      const length = Math.min(CHUNK - within, chunk.length - done);
      const start = this.offsetOf(Math.floor(at / CHUNK)) + within;
      if (!chunk.subarray(done, done + length).equals(this.pool.subarray(start, start + length)))
        return false;
      done += length;
    }
    return true;
  }

  private offsetOf(k: number): number {
    return (k * STRIDE) % POOL;
  }
}
