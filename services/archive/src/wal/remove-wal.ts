import { throwIfAborted } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { readWalHeader } from './archive-wal.js';
import { listWal } from './list-wal.js';
import { parseLsn, segmentNumber } from './wal-names.js';

/**
 * Removes the segments (and partials) wholly before `lsn` on timelines up to
 * `timeline`: the WAL no restore from a snapshot starting at `lsn` on `timeline` needs.
 * History files stay (they are tiny, and replay follows timelines through them).
 * Without the archive lock, as WAL is written (see archive-wal.ts): the receiver only
 * writes at the stream's end, far past what retention removes.
 */
export async function removeWalBefore(
  archive: Archive,
  stream: string,
  before: { readonly timeline: number; readonly lsn: string },
  options: { signal?: AbortSignal /** Count, remove nothing. Default: false. */; dryRun?: boolean } = {},
): Promise<{ removed: number; bytes: number }> {
  const position = parseLsn(before.lsn);
  const objects = (await listWal(archive, stream, options)).filter(
    (info) => !info.history && info.timeline <= before.timeline,
  );
  const probe = objects[0];
  if (probe === undefined) return { removed: 0, bytes: 0 };
  // The stream's segment size, from one header.
  const header = await readWalHeader(archive, stream, probe.name, {
    partial: probe.partial,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // Removed meanwhile: another retention run is at it.
  if (header === undefined) return { removed: 0, bytes: 0 };
  const keepFrom = position / BigInt(header.segmentSize);
  let removed = 0;
  let bytes = 0;
  for (const info of objects) {
    throwIfAborted(options.signal);
    if (segmentNumber(info.name, header.segmentSize) >= keepFrom) continue;
    if (options.dryRun !== true) {
      await archive.backend.remove(info.objectName, options.signal ? { signal: options.signal } : {});
    }
    removed++;
    bytes += info.storedBytes;
  }
  return { removed, bytes };
}
