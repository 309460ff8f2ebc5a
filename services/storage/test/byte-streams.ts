import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK = 64 * 1024;

/** `size` random bytes, made as they are read; `sha256()` is their digest once all are read. */
export function randomStream(size: number): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(CHUNK * 16, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

/** Random bytes that fail with `error` after `bytes` of them, like a producer that crashed. */
export function failingStream(bytes: number, error: Error = new Error('source failed')): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(error);
        return;
      }
      const chunk = randomBytes(Math.min(CHUNK, bytes - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/** Random bytes without end, a little at a time, for aborting part-way. */
export function endlessStream(): Readable {
  return new Readable({
    read() {
      setTimeout(() => this.push(randomBytes(CHUNK)), 1);
    },
  });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function digest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
