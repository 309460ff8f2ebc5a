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
  try {
    let position = await reader.recordStart(range.from);
    let previous: number | undefined;
    const head = Buffer.alloc(HEADER_BYTES);
    while (position < range.to) {
      await reader.copy(position, RECORD_HEADER, head);
      const header = recordHeader(head);
      if (header.totalLength < RECORD_HEADER) return { whyNot: `no record at ${lsnText(position)}` };
      if (previous !== undefined && header.prev !== previous) {
        return { whyNot: `the record at ${lsnText(position)} does not follow the one before` };
      }
      const copied = Math.min(header.totalLength, HEADER_BYTES);
      await reader.copy(position, copied, head);
      visitRecord(head.subarray(0, copied), reader.compressedFlags, blocks);
      if (blocks.whyNot !== undefined) return { whyNot: blocks.whyNot };
      previous = position;
      position = await nextRecord(reader, position, header, range.segmentSize);
    }
    return { blocks, walBytes: range.to - range.from };
  } catch (error) {
    if (error instanceof WalRecordError || error instanceof WalReadError) return { whyNot: error.message };
    throw error;
  } finally {
    await reader.close();
  }
}

async function nextRecord(
  reader: WalReader,
  position: number,
  header: RecordHeader,
  segmentSize: number,
): Promise<number> {
  const end = await reader.skip(position, header.totalLength);
  // After a switch the rest of the segment is padding: the next record opens the next one.
  if (isSwitch(header)) return reader.recordStart(Math.ceil(end / segmentSize) * segmentSize);
  return reader.recordStart(Math.ceil(end / 8) * 8);
}

class WalReadError extends Error {}

/** One segment read into memory. */
interface LoadedSegment {
  readonly number: number;
  readonly bytes: Buffer;
}

/** The bytes of a WAL range as records see them: page headers checked and stepped over. */
class WalReader {
  private readonly kept: LoadedSegment[] = [];
  private readonly spare: Buffer[] = [];
  private magic: number | undefined;

  constructor(private readonly range: WalRange) {}

  /** The image flags that mean a compressed page image in this server version's WAL. */
  get compressedFlags(): number {
    return (this.magic ?? FIRST_MAGIC_WITH_METHODS) >= FIRST_MAGIC_WITH_METHODS ? 0x1c : 0x02;
  }

  /** A record never starts inside a page header: a position at a page's start means after its header. */
  recordStart(position: number): Promise<number> {
    return this.enter(position);
  }

  /** Copies `length` bytes of the record stream from `position` into `into`. */
  async copy(position: number, length: number, into: Buffer): Promise<void> {
    let at = position;
    let done = 0;
    while (done < length) {
      at = await this.enter(at);
      const segment = await this.segmentAt(at);
      const offset = at % this.range.segmentSize;
      const take = Math.min(length - done, WAL_PAGE - (offset % WAL_PAGE));
      segment.bytes.copy(into, done, offset, offset + take);
      done += take;
      at += take;
    }
  }

  /** The position just past `length` record bytes from `position`, each page entered checked. */
  async skip(position: number, length: number): Promise<number> {
    let at = position;
    let left = length;
    while (left > 0) {
      at = await this.enter(at);
      const take = Math.min(left, WAL_PAGE - (at % WAL_PAGE));
      left -= take;
      at += take;
    }
    return at;
  }

  async close(): Promise<void> {
    this.kept.length = 0;
  }

  /** At a page's start: checks its header and steps over it. */
  private async enter(position: number): Promise<number> {
    if (position % WAL_PAGE !== 0) return position;
    const segment = await this.segmentAt(position);
    const offset = position % this.range.segmentSize;
    const magic = segment.bytes.readUInt16LE(offset);
    const address =
      segment.bytes.readUInt32LE(offset + 8) + segment.bytes.readUInt32LE(offset + 12) * 0x100000000;
    if (magic !== this.magic || address !== position) {
      throw new WalReadError(`the WAL page at ${lsnText(position)} is not that page (recycled since?)`);
    }
    return position + this.headerSize(position);
  }

  private headerSize(position: number): number {
    return position % this.range.segmentSize === 0 ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER;
  }

  private async segmentAt(position: number): Promise<LoadedSegment> {
    const number = Math.floor(position / this.range.segmentSize);
    const found = this.kept.find((segment) => segment.number === number);
    if (found !== undefined) return found;
    if (this.kept.length >= 2) this.spare.push(this.kept.shift()!.bytes);
    const bytes = this.spare.pop() ?? Buffer.allocUnsafe(this.range.segmentSize);
    const name = segmentName(this.range.timeline, number, this.range.segmentSize);
    const file = await open(join(this.range.pgWal, name), 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new WalReadError(`WAL segment ${name} is no longer in pg_wal`);
      throw error;
    });
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await file.read(bytes, done, bytes.length - done, done);
        if (bytesRead === 0) throw new WalReadError(`WAL segment ${name} is shorter than a segment`);
        done += bytesRead;
      }
    } finally {
      await file.close();
    }
    const info = bytes.readUInt16LE(2);
    if ((info & XLP_LONG_HEADER) === 0 || bytes.readUInt32LE(36) !== WAL_PAGE) {
      throw new WalReadError(`WAL segment ${name} does not open with a long header for 8 KiB pages`);
    }
    this.magic ??= bytes.readUInt16LE(0);
    const segment = { number, bytes };
    this.kept.push(segment);
    return segment;
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
