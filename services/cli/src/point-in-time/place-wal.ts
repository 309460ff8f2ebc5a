import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, fetchWalFile, type ProgressListener } from '@pullback/archive';
import type { HeldSegment } from './archived-wal.js';

/**
 * Writes the archived WAL replay needs into `walDirectory` (pg_wal): the timelines'
 * history files, then each segment under its plain name, a partial padded with zeros
 * to its segment size (PostgreSQL reads it as a segment whose end is not written yet).
 * One segment is in memory at a time.
 */
export async function placeWal(
  archive: Archive,
  stream: string,
  files: { readonly histories: readonly string[]; readonly segments: readonly HeldSegment[] },
  walDirectory: string,
  options: { onProgress?: ProgressListener; signal?: AbortSignal; segmentSize: number },
): Promise<{ files: number; bytes: number }> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const names = [...files.histories, ...files.segments.map((segment) => segment.name)];
  const bytesTotal = files.segments.length * options.segmentSize;
  let bytes = 0;
  for (const [index, name] of names.entries()) {
    const fetched = await fetchWalFile(archive, stream, name, { allowPartial: true, ...signal });
    if (fetched === undefined) {
      throw new Error(`wal file ${name} of stream ${stream} is no longer in the archive`);
    }
    await writeFile(join(walDirectory, name), fetched.content, { mode: 0o600 });
    bytes += fetched.content.length;
    // A report per file: a segment is megabytes, so this is seldom enough for a display.
    options.onProgress?.({ bytesDone: bytes, bytesTotal, filesDone: index + 1, filesTotal: names.length });
  }
  return { files: names.length, bytes };
}
