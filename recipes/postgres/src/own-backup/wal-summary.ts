import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ChangedBlocks } from './changed-blocks.js';
import {
  isSwitch,
  RECORD_HEADER,
  type RecordHeader,
  recordHeader,
  visitRecord,
  WalRecordError,
} from './wal-record-blocks.js';

/** WAL pages are 8 KiB in every build this reads (checked against the segment's long header). */
const WAL_PAGE = 8192;
const SHORT_PAGE_HEADER = 24;
const LONG_PAGE_HEADER = 40;
const XLP_LONG_HEADER = 0x0002;
/** Bytes of a record copied out to read its headers: 33 block headers and the main data's first words fit. */
const HEADER_BYTES = 1024;
/** PostgreSQL 15 moved the compressed-image flag from 0x02 to one bit per method (0x04, 0x08, 0x10). */
const FIRST_MAGIC_WITH_METHODS = 0xd110;

export interface WalRange {
  /** pg_wal of the data directory. */
  readonly pgWal: string;
  readonly timeline: number;
  /** The first record's position: the previous export's start LSN. */
  readonly from: number;
  /** Records starting before this are read: this export's start LSN. */
  readonly to: number;
  readonly segmentSize: number;
}

/** What summarising a WAL range found: the changed blocks, or why the range could not be read. */
export type WalSummary =
  | { readonly blocks: ChangedBlocks; readonly walBytes: number }
  | { readonly blocks?: undefined; readonly whyNot: string };

/**
 * Reads the WAL records from `from` up to `to` out of pg_wal, segment by segment
 * (two kept in memory), and gathers the blocks they name. Every page's address is
 * checked, and every record's link to the one before it, so a segment recycled or
 * overwritten since, or a position that is not a record's start, ends the reading
 * with a reason instead of a wrong answer; so does a segment no longer there.
 */
export async function summarizeWal(range: WalRange): Promise<WalSummary> {
  const reader = new WalReader(range);
  const blocks = new ChangedBlocks();
  let position: number | undefined;
  let previous: number | undefined;
  for (;;) {
    try {
      // Synchronous while the segments are in memory; a record that needs one not yet
      // read is read again once it is (telling the summary a block twice is harmless).
      position ??= reader.enter(range.from);
      while (position < range.to) {
        const header = recordHeader(reader.bytes(position, RECORD_HEADER));
        if (header.totalLength < RECORD_HEADER) return { whyNot: `no record at ${lsnText(position)}` };
        if (previous !== undefined && header.prev !== previous) {
          return { whyNot: `the record at ${lsnText(position)} does not follow the one before` };
        }
        const record = reader.bytes(position, Math.min(header.totalLength, HEADER_BYTES));
        visitRecord(record, reader.compressedFlags, blocks);
        if (blocks.whyNot !== undefined) return { whyNot: blocks.whyNot };
        const next = nextRecord(reader, position, header, range.segmentSize);
        previous = position;
        position = next;
      }
      return { blocks, walBytes: range.to - range.from };
    } catch (error) {
      if (error instanceof NotRead) {
        await reader.read(error.segment);
        if (reader.failure !== undefined) return { whyNot: reader.failure };
        continue;
      }
      if (error instanceof WalRecordError || error instanceof WalReadError) return { whyNot: error.message };
      throw error;
    }
  }
}

function nextRecord(reader: WalReader, position: number, header: RecordHeader, segmentSize: number): number {
  const end = reader.skip(position, header.totalLength);
  // After a switch the rest of the segment is padding: the next record opens the next one.
  if (isSwitch(header)) return reader.enter(Math.ceil(end / segmentSize) * segmentSize);
  return reader.enter(Math.ceil(end / 8) * 8);
}

class WalReadError extends Error {}

/** Thrown by the synchronous reads for a segment not in memory yet. */
class NotRead {
  constructor(readonly segment: number) {}
}

/** One segment read into memory. */
interface LoadedSegment {
  readonly number: number;
  readonly bytes: Buffer;
}

/** The bytes of a WAL range as records see them: page headers checked and stepped over. */
class WalReader {
  private readonly kept: LoadedSegment[] = [];
  private readonly spare: Buffer[] = [];
  private readonly scratch = Buffer.alloc(HEADER_BYTES);
  private magic: number | undefined;
  /** Why a segment could not be read. */
  failure: string | undefined;

  constructor(private readonly range: WalRange) {}

  /** The image flags that mean a compressed page image in this server version's WAL. */
  get compressedFlags(): number {
    return (this.magic ?? FIRST_MAGIC_WITH_METHODS) >= FIRST_MAGIC_WITH_METHODS ? 0x1c : 0x02;
  }

  /**
   * `length` (at most HEADER_BYTES) bytes of the record stream from `position`: a view
   * into the segment when they lie in one page, else copied out around page headers.
   */
  bytes(position: number, length: number): Buffer {
    const inPage = position % WAL_PAGE;
    if (inPage !== 0 && inPage + length <= WAL_PAGE) {
      const offset = position % this.range.segmentSize;
      return this.segmentAt(position).bytes.subarray(offset, offset + length);
    }
    let at = position;
    let done = 0;
    while (done < length) {
      at = this.enter(at);
      const offset = at % this.range.segmentSize;
      const take = Math.min(length - done, WAL_PAGE - (offset % WAL_PAGE));
      this.segmentAt(at).bytes.copy(this.scratch, done, offset, offset + take);
      done += take;
      at += take;
    }
    return this.scratch.subarray(0, length);
  }

  /** The position just past `length` record bytes from `position`, each page entered checked. */
  skip(position: number, length: number): number {
    let at = position;
    let left = length;
    while (left > 0) {
      at = this.enter(at);
      const take = Math.min(left, WAL_PAGE - (at % WAL_PAGE));
      left -= take;
      at += take;
    }
    return at;
  }

  /** At a page's start: checks its header and steps over it (a record never starts inside one). */
  enter(position: number): number {
    if (position % WAL_PAGE !== 0) return position;
    const segment = this.segmentAt(position);
    const offset = position % this.range.segmentSize;
    const magic = segment.bytes.readUInt16LE(offset);
    const address =
      segment.bytes.readUInt32LE(offset + 8) + segment.bytes.readUInt32LE(offset + 12) * 0x100000000;
    if (magic !== this.magic || address !== position) {
      throw new WalReadError(`the WAL page at ${lsnText(position)} is not that page (recycled since?)`);
    }
    return position + (offset === 0 ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER);
  }

  /** Reads segment `number` into memory (the oldest of two kept gives way); a failure is kept in `failure`. */
  async read(number: number): Promise<void> {
    if (this.kept.length >= 2) this.spare.push(this.kept.shift()!.bytes);
    const bytes = this.spare.pop() ?? Buffer.allocUnsafe(this.range.segmentSize);
    const name = segmentName(this.range.timeline, number, this.range.segmentSize);
    const file = await open(join(this.range.pgWal, name), 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (file === undefined) {
      this.failure = `WAL segment ${name} is no longer in pg_wal`;
      return;
    }
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await file.read(bytes, done, bytes.length - done, done);
        if (bytesRead === 0) {
          this.failure = `WAL segment ${name} is shorter than a segment`;
          return;
        }
        done += bytesRead;
      }
    } finally {
      await file.close();
    }
    if ((bytes.readUInt16LE(2) & XLP_LONG_HEADER) === 0 || bytes.readUInt32LE(36) !== WAL_PAGE) {
      this.failure = `WAL segment ${name} does not open with a long header for 8 KiB pages`;
      return;
    }
    this.magic ??= bytes.readUInt16LE(0);
    this.kept.push({ number, bytes });
  }

  private segmentAt(position: number): LoadedSegment {
    const number = Math.floor(position / this.range.segmentSize);
    for (const segment of this.kept) if (segment.number === number) return segment;
    throw new NotRead(number);
  }
}

/** A WAL segment's file name. */
export function segmentName(timeline: number, segment: number, segmentSize: number): string {
  const perId = 0x100000000 / segmentSize;
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segment / perId))}${hex(segment % perId)}`;
}

function lsnText(position: number): string {
  return `${Math.floor(position / 0x100000000)
    .toString(16)
    .toUpperCase()}/${(position % 0x100000000).toString(16).toUpperCase()}`;
}
