import type { Readable } from 'node:stream';

/** Collects a stream into one Buffer (for objects known to be small or ranged). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Collects a stream into `kept.buffer`, replaced by a larger one when it does not fit;
 * returns a view of it. A caller reading object after object (a fallback's WAL)
 * reuses one buffer instead of faulting in fresh pages for each.
 */
export async function readAllInto(stream: Readable, kept: { buffer: Buffer }): Promise<Buffer> {
  let length = 0;
  for await (const chunk of stream) {
    const bytes = chunk as Buffer;
    if (length + bytes.length > kept.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(length + bytes.length, kept.buffer.length * 2));
      kept.buffer.copy(grown, 0, 0, length);
      kept.buffer = grown;
    }
    length += bytes.copy(kept.buffer, length);
  }
  return kept.buffer.subarray(0, length);
}
