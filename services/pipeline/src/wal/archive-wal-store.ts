import {
  type Archive,
  archiveWalFile,
  archiveWalFileAt,
  fetchWalFile,
  formatLsn,
  listWal,
  readWalHeader,
  segmentStart,
} from '@pullback/archive';
import type { WalArchive } from './wal-archive.js';

/** The archive's WAL store (services/archive/src/wal/) as the receiver's `WalArchive`. */
export function walArchiveOf(archive: Archive): WalArchive {
  return {
    store: (stream, name, content, times, options = {}) =>
      archiveWalFile(archive, stream, name, content, times, options),
    storeFile: (stream, name, file, length, times, options = {}) =>
      archiveWalFileAt(archive, stream, name, file, length, times, options),
    fetch: async (stream, name, options = {}) =>
      (await fetchWalFile(archive, stream, name, options))?.content,
    async end(stream, options = {}) {
      const objects = (await listWal(archive, stream, options)).filter((object) => !object.history);
      const last = objects.at(-1);
      if (last === undefined) return undefined;
      const header = await readWalHeader(archive, stream, last.name, { ...options, partial: last.partial });
      if (header === undefined) return undefined;
      const end = segmentStart(last.name, header.segmentSize) + BigInt(header.contentBytes);
      return { timeline: last.timeline, lsn: formatLsn(end), at: header.lastReceivedAt };
    },
  };
}
