import { Semaphore } from '../concurrency/semaphore.js';
import { isArchiveError, throwIfAborted } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { fetchWalFile, readWalHeader } from '../wal/archive-wal.js';
import { listWal, listWalStreams, type WalObjectInfo } from '../wal/list-wal.js';
import { type WalGap, walChain } from '../wal/wal-chain.js';
import type { VerifyProblem } from './verify-archive.js';

/**
 * Checks the archive's WAL: every object's header opens (with `readData`, its whole
 * body too, one segment at a time), and each stream's chain is continuous from its
 * first segment; a gap is reported with the LSNs and times no restore can reach.
 * WAL is written without the lock, so an object removed meanwhile (a partial replaced
 * by its segment) is skipped, not reported.
 */
export async function verifyWal(
  archive: Archive,
  options: { readData: boolean; signal: AbortSignal | undefined },
): Promise<{ objects: number; bytesRead: number; problems: VerifyProblem[] }> {
  const problems: VerifyProblem[] = [];
  const signal = options.signal ? { signal: options.signal } : {};
  let objects = 0;
  let bytesRead = 0;
  // Headers are small range reads, many at once; whole segments (16 MiB opened) two at a time.
  const slots = new Semaphore(options.readData ? 2 : Math.min(8, archive.backend.properties.connections));
  for (const stream of await listWalStreams(archive, signal)) {
    const infos = await listWal(archive, stream, signal);
    const outcomes = await Promise.all(
      infos.map((info) =>
        slots.use(async (): Promise<string | boolean> => {
          throwIfAborted(options.signal);
          try {
            return await openObject(archive, info, options);
          } catch (error) {
            if (!isArchiveError(error, 'corrupt')) throw error;
            return error.message;
          }
        }),
      ),
    );
    for (const [index, outcome] of outcomes.entries()) {
      if (typeof outcome === 'string') problems.push({ stream, message: outcome });
      else if (outcome) {
        objects++;
        if (options.readData) bytesRead += infos[index]!.storedBytes;
      }
    }
    try {
      for (const gap of (await walChain(archive, stream, signal)).gaps) {
        problems.push({ stream, walGap: gap, message: describeGap(gap) });
      }
    } catch (error) {
      if (!isArchiveError(error, 'corrupt') && !isArchiveError(error, 'missing-data')) throw error;
      problems.push({ stream, message: `wal chain unreadable: ${error.message}` });
    }
  }
  return { objects, bytesRead, problems };
}

/** Opens one object; false when it is gone (removed since the list). */
async function openObject(
  archive: Archive,
  info: WalObjectInfo,
  options: { readData: boolean; signal: AbortSignal | undefined },
): Promise<boolean> {
  const signal = options.signal ? { signal: options.signal } : {};
  if (options.readData) {
    const name = info.partial ? `${info.name}.partial` : info.name;
    return (await fetchWalFile(archive, info.stream, name, signal)) !== undefined;
  }
  return (
    (await readWalHeader(archive, info.stream, info.name, { partial: info.partial, ...signal })) !== undefined
  );
}

/** `timeline 1: wal 0/400000 to 0/500000 is missing: no restore to a time between … and …` */
export function describeGap(gap: WalGap): string {
  const { startTime, endTime } = gap;
  const times =
    startTime !== undefined && endTime !== undefined
      ? `: no restore to a time between ${startTime} and ${endTime}`
      : startTime !== undefined
        ? `: no restore on this timeline to a time after ${startTime}`
        : endTime !== undefined
          ? `: no restore on this timeline to a time before ${endTime}`
          : '';
  return `timeline ${gap.timeline}: wal ${gap.startLsn} to ${gap.endLsn} is missing${times}`;
}
