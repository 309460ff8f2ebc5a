import { ChangedBlocks } from './changed-blocks.js';
import { HEADER_BYTES, MAX_WINDOWS, NotRead, WalReadError, WalReader, type WalSource } from './wal-reader.js';
import {
  isSwitch,
  RECORD_HEADER,
  type RecordHeader,
  recordHeader,
  visitRecord,
  WalRecordError,
} from './wal-record-blocks.js';

export interface WalRange extends WalSource {
  /** The first record's position: the previous export's start LSN. */
  readonly from: number;
  /** Records starting before this are read: this export's start LSN. */
  readonly to: number;
}

/** What summarising a WAL range found: the changed blocks, or why the range could not be read. */
export type WalSummary =
  | { readonly blocks: ChangedBlocks; readonly walBytes: number }
  | { readonly blocks?: undefined; readonly whyNot: string };

/**
 * Reads the WAL records from `from` up to `to` out of pg_wal (`WalReader`: a window of
 * a segment at a time, a few kept in memory, the next read while these are parsed),
 * and gathers the blocks they name. Every page's address is checked, and every
 * record's link to the one before it, so a segment recycled or overwritten since, or a
 * position that is not a record's start, ends the reading with a reason instead of a
 * wrong answer; so does a segment no longer there.
 */
export async function summarizeWal(range: WalRange): Promise<WalSummary> {
  const reader = new WalReader(range, range.from, range.to);
  const blocks = new ChangedBlocks();
  // Positions from the reader's base (WalReader says why).
  const { base } = reader;
  const to = range.to - base;
  let position: number | undefined;
  let previous: number | undefined;
  let stuckAt: number | undefined;
  for (;;) {
    try {
      // Synchronous while the windows are in memory; a record that needs one not yet
      // read is read again once it is (telling the summary a block twice is harmless).
      position ??= reader.enter(range.from - base);
      while (position < to) {
        const at = reader.locate(position, RECORD_HEADER);
        const header = recordHeader(reader.view, at);
        if (header.totalLength < RECORD_HEADER) return { whyNot: `no record at ${reader.lsn(position)}` };
        if (previous !== undefined && header.prev - base !== previous) {
          return { whyNot: `the record at ${reader.lsn(position)} does not follow the one before` };
        }
        const length = Math.min(header.totalLength, HEADER_BYTES);
        const first = reader.locate(position, length);
        visitRecord(reader.view, reader.compressedFlags, blocks, first, first + length, header);
        if (blocks.whyNot !== undefined) return { whyNot: blocks.whyNot };
        const next = nextRecord(reader, position, header, range.segmentSize);
        previous = position;
        position = next;
      }
      return { blocks, walBytes: range.to - range.from };
    } catch (error) {
      if (error instanceof NotRead) {
        // A record spanning more windows than are kept would read them in turn forever.
        if (position !== undefined && position === stuckAt && !reader.keepMore()) {
          return { whyNot: `the record at ${reader.lsn(position)} spans more than ${MAX_WINDOWS - 1} MiB` };
        }
        stuckAt = position;
        await reader.read(error.window);
        if (reader.failure !== undefined) return { whyNot: reader.failure };
        continue;
      }
      if (error instanceof WalRecordError || error instanceof WalReadError) return { whyNot: error.message };
      throw error;
    }
  }
}

/** The position of the record after the one at `position` (both from the reader's base, which is a segment's start). */
function nextRecord(reader: WalReader, position: number, header: RecordHeader, segmentSize: number): number {
  const end = reader.skip(position, header.totalLength);
  // After a switch the rest of the segment is padding: the next record opens the next one.
  if (isSwitch(header)) return reader.enter(Math.ceil(end / segmentSize) * segmentSize);
  return reader.enter(Math.ceil(end / 8) * 8);
}
