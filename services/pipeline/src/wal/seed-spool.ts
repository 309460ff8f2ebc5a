import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn, segmentOfLsn } from '@pullback/archive';
import { listSpool } from './spool-files.js';
import type { WalArchive } from './wal-archive.js';

/**
 * Makes an empty spool resume where the archive ends, not where the slot is: the
 * slot follows what the last receiver flushed to its own spool (on another worker,
 * perhaps gone with it), so WAL between the archive's end and the slot would be
 * skipped. pg_receivewal resumes from the newest partial segment in its directory,
 * from that segment's first byte: the archive's partial is put back (its bytes are
 * kept even if the server no longer has them), or after a complete segment, an empty
 * partial of the next one. When the server no longer has that WAL, the receiver says
 * so (WalPositionGoneError) and the next run starts from the slot: a gap.
 */
export async function seedSpool(
  archive: WalArchive,
  stream: string,
  spoolDir: string,
  segmentSize: number,
  signal?: AbortSignal,
): Promise<string | undefined> {
  if ((await listSpool(spoolDir, segmentSize)).some((file) => file.kind !== 'history')) return undefined;
  const end = await archive.end(stream, signal === undefined ? {} : { signal });
  if (end === undefined) return undefined;
  const position = parseLsn(end.lsn);
  const name = segmentOfLsn(position, end.timeline, segmentSize);
  const path = join(spoolDir, `${name}.partial`);
  const held =
    position % BigInt(segmentSize) === 0n
      ? undefined
      : await archive.fetch(stream, name, {
          allowPartial: true,
          ...(signal === undefined ? {} : { signal }),
        });
  if (held !== undefined) await writeFile(path, held);
  else {
    // An empty segment: zeros to its full size, as pg_receivewal itself creates one.
    const handle = await open(path, 'w');
    await handle.truncate(segmentSize);
    await handle.close();
  }
  return formatLsn(position - (position % BigInt(segmentSize)));
}
