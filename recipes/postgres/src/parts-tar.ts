import { createReadStream } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';

/** Default size of one part: the most of a stream held in memory at once. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/**
 * A stream of unknown length (a pg_dump) as a tar archive: a tar header must state its
 * member's size up front, so the stream is cut into members `<dir>/000000`,
 * `<dir>/000001`, ... of `partSize` bytes (the last one shorter), and only one part
 * is ever held in memory. Concatenated in name order, the parts are the stream.
 */
export function tarOfParts(
  source: Readable,
  dir: string,
  options: { partSize?: number; mtime?: Date } = {},
): Readable {
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  const mtime = options.mtime ?? new Date();
  const archive = pack();
  let finished = false;
  const writePart = (index: number, chunks: readonly Buffer[], size: number) =>
    new Promise<void>((resolve, reject) => {
      const entry = archive.entry(
        { name: `${dir}/${String(index).padStart(6, '0')}`, size, mode: 0o600, mtime, type: 'file' },
        (error) => (error ? reject(error) : resolve()),
      );
      for (const chunk of chunks) entry.write(chunk);
      entry.end(undefined);
    });
  (async () => {
    let index = 0;
    let chunks: Buffer[] = [];
    let size = 0;
    for await (const data of source) {
      let chunk = data as Buffer;
      while (chunk.length > 0) {
        const take = Math.min(partSize - size, chunk.length);
        chunks.push(chunk.subarray(0, take));
        size += take;
        chunk = chunk.subarray(take);
        if (size === partSize) {
          await writePart(index++, chunks, size);
          chunks = [];
          size = 0;
        }
      }
    }
    // An empty stream still leaves one (empty) part, so the member is never missing.
    if (size > 0 || index === 0) await writePart(index, chunks, size);
    archive.finalize();
    finished = true;
  })().catch((error: unknown) => {
    source.destroy();
    archive.destroy(error as Error);
  });
  // Readable.from gives the consumer a Node stream with backpressure; destroying it
  // (the save failed) destroys the pack, and the producer stops below.
  const output = Readable.from(archive, { objectMode: false });
  output.once('close', () => {
    if (!finished) source.destroy();
  });
  return output;
}

/** The parts under `dir`, concatenated in name order: the stream `tarOfParts` cut. */
export async function joinParts(dir: string): Promise<Readable> {
  const names: string[] = [];
  for await (const entry of await opendir(dir)) {
    if (entry.isFile() && /^\d{6,}$/.test(entry.name)) names.push(entry.name);
  }
  if (names.length === 0) throw new Error(`${dir} holds no parts`);
  names.sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
  return Readable.from(
    (async function* () {
      for (const name of names) yield* createReadStream(join(dir, name));
    })(),
    { objectMode: false },
  );
}
