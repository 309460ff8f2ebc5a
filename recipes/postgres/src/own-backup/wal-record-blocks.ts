/**
 * What one WAL record changes in the data directory's relation files, read from its
 * header alone (the block references PostgreSQL's xlogrecord.h lays out after the
 * 24-byte XLogRecord), as PostgreSQL 17's WAL summarizer reads them. Block data and
 * page images are never looked at: only their lengths, to check that the headers
 * account for the whole record.
 */

/** A relation fork: tablespace, database and relfilenode OIDs, and the fork number (0 main, 1 fsm, 2 vm, 3 init). */
export interface RelFork {
  readonly spc: number;
  readonly db: number;
  readonly rel: number;
  readonly fork: number;
}

/** What the summary is told of a record. */
export interface RecordVisitor {
  /** Block `block` of the fork is changed by the record (numbers, not a RelFork: called for most records). */
  block(spc: number, db: number, rel: number, fork: number, block: number): void;
  /** Every block of `fork` from `block` on may change without a block reference: a truncation or a (re)creation. */
  from(fork: RelFork, block: number): void;
  /** Files of database `db` may change without block references (a database created, dropped or copied). */
  database(db: number): void;
  /** The record changes files in a way this reading cannot follow: nothing in the range can be trusted. */
  unknown(why: string): void;
}

/** The XLogRecord header's size. */
export const RECORD_HEADER = 24;
const MAX_BLOCK_ID = 32;
const BLOCK_ID_DATA_SHORT = 255;
const BLOCK_ID_DATA_LONG = 254;
const BLOCK_ID_ORIGIN = 253;
const BLOCK_ID_TOPLEVEL_XID = 252;
const BKPBLOCK_FORK_MASK = 0x0f;
const BKPBLOCK_HAS_IMAGE = 0x10;
const BKPBLOCK_SAME_REL = 0x80;
const BKPIMAGE_HAS_HOLE = 0x01;

const RM_XLOG_ID = 0;
const RM_SMGR_ID = 2;
const RM_DBASE_ID = 4;
const RM_TBLSPC_ID = 5;
const XLOG_SWITCH = 0x40;
const XLOG_PARAMETER_CHANGE = 0x60;
const XLOG_SMGR_CREATE = 0x10;
const XLOG_SMGR_TRUNCATE = 0x20;
const SMGR_TRUNCATE_HEAP = 0x0001;
/** xl_parameter_change: six ints before wal_level's. */
const WAL_LEVEL_OFFSET = 20;
const WAL_LEVEL_MINIMAL = 0;

/** Per block reference of the record being read: its RelFileNode's offset, fork and block number. */
const BLOCKS = new Float64Array((MAX_BLOCK_ID + 1) * 3);

/** A record whose header does not add up: the WAL read is not what it was taken for. */
export class WalRecordError extends Error {}

/** The XLogRecord fields the reading needs. */
export interface RecordHeader {
  readonly totalLength: number;
  /** The start of the previous record (xl_prev): each record names the one before it. */
  readonly prev: number;
  readonly info: number;
  readonly rmid: number;
}

/** The header of the record at `base` in `bytes` (RECORD_HEADER bytes there). */
export function recordHeader(bytes: Buffer, base = 0): RecordHeader {
  return {
    totalLength: u32(bytes, base),
    prev: u32(bytes, base + 8) + u32(bytes, base + 12) * 0x100000000,
    info: bytes[base + 16]!,
    rmid: bytes[base + 17]!,
  };
}

/**
 * A little-endian u32 at `at`, which the caller knows to be inside `bytes`. A million
 * records are read per GB of WAL: Buffer's readUInt32LE checks its arguments each time,
 * which with the header objects cost half the summary's time.
 */
function u32(bytes: Buffer, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)) + bytes[at + 3]! * 0x1000000;
}

function u16(bytes: Buffer, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function failed(header: RecordHeader, why: string): never {
  throw new WalRecordError(`record of rmgr ${header.rmid}: ${why}`);
}

/** Whether the record is an XLOG_SWITCH: the rest of its segment is empty, the next record begins the next one. */
export function isSwitch(header: RecordHeader): boolean {
  return header.rmid === RM_XLOG_ID && (header.info & 0xf0) === XLOG_SWITCH;
}

/**
 * Tells `visitor` what the record changes. `bytes` holds its first bytes (all of its
 * headers, and at least the first bytes of its main data when it has no block data);
 * `compressedFlags` is the bimg_info bits that mean a compressed image (the version's).
 */
export function visitRecord(
  bytes: Buffer,
  compressedFlags: number,
  visitor: RecordVisitor,
  /** Where in `bytes` the record's first bytes are, and where they end (records are read in place). */
  base = 0,
  end = bytes.length,
  header: RecordHeader = recordHeader(bytes, base),
): void {
  const length = end - base;
  let at = RECORD_HEADER;
  let remaining = header.totalLength - RECORD_HEADER;
  let dataTotal = 0;
  let mainData = 0;
  let blockCount = 0;
  let sameRel = -1;
  let lastId = -1;
  // Each field is checked to lie inside the bytes read before it is read.
  while (remaining > dataTotal) {
    if (at + 1 > length) failed(header, 'its headers run past the bytes read');
    const id = bytes[base + at++]!;
    remaining -= 1;
    if (id === BLOCK_ID_DATA_SHORT) {
      if (at + 1 > length) failed(header, 'its headers run past the bytes read');
      mainData = bytes[base + at++]!;
      remaining -= 1;
      dataTotal += mainData;
      break;
    }
    if (id === BLOCK_ID_DATA_LONG) {
      if (at + 4 > length) failed(header, 'its headers run past the bytes read');
      mainData = u32(bytes, base + at);
      at += 4;
      remaining -= 4;
      dataTotal += mainData;
      break;
    }
    if (id === BLOCK_ID_ORIGIN || id === BLOCK_ID_TOPLEVEL_XID) {
      const size = id === BLOCK_ID_ORIGIN ? 2 : 4;
      if (at + size > length) failed(header, 'its headers run past the bytes read');
      at += size;
      remaining -= size;
      continue;
    }
    // Block ids rise within a record (xloginsert.c): at most MAX_BLOCK_ID + 1 of them.
    if (id > MAX_BLOCK_ID || id <= lastId) failed(header, `block id ${id} after ${lastId}`);
    lastId = id;
    if (at + 3 > length) failed(header, 'its headers run past the bytes read');
    const forkFlags = bytes[base + at]!;
    dataTotal += u16(bytes, base + at + 1);
    at += 3;
    remaining -= 3;
    if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
      if (at + 5 > length) failed(header, 'its headers run past the bytes read');
      dataTotal += u16(bytes, base + at);
      const imageInfo = bytes[base + at + 4]!;
      at += 5;
      remaining -= 5;
      if ((imageInfo & BKPIMAGE_HAS_HOLE) !== 0 && (imageInfo & compressedFlags) !== 0) {
        if (at + 2 > length) failed(header, 'its headers run past the bytes read');
        at += 2;
        remaining -= 2;
      }
    }
    if ((forkFlags & BKPBLOCK_SAME_REL) === 0) {
      if (at + 12 > length) failed(header, 'its headers run past the bytes read');
      sameRel = at;
      at += 12;
      remaining -= 12;
    } else if (sameRel < 0) {
      failed(header, 'its first block says "same relation"');
    }
    // Where its relation is, its fork and block number: told once the whole record adds up.
    if (at + 4 > length) failed(header, 'its headers run past the bytes read');
    const found = blockCount++ * 3;
    BLOCKS[found] = sameRel;
    BLOCKS[found + 1] = forkFlags & BKPBLOCK_FORK_MASK;
    BLOCKS[found + 2] = u32(bytes, base + at);
    at += 4;
    remaining -= 4;
  }
  if (remaining !== dataTotal)
    failed(header, `its headers and data do not add up to its ${header.totalLength} bytes`);
  for (let index = 0; index < blockCount * 3; index += 3) {
    const node = BLOCKS[index]!;
    visitor.block(
      u32(bytes, base + node),
      u32(bytes, base + node + 4),
      u32(bytes, base + node + 8),
      BLOCKS[index + 1]!,
      BLOCKS[index + 2]!,
    );
  }
  // Only the first resource managers' records are read further (most are heap and
  // index records: no function made for them).
  if (header.rmid > RM_TBLSPC_ID) return;
  // Main data follows the blocks' data; the records read below have no blocks.
  const main = at + dataTotal - mainData;
  const word = (offset: number): number => {
    if (blockCount > 0 || main + offset + 4 > length || offset + 4 > mainData)
      failed(header, 'its main data is not where it should be');
    return u32(bytes, base + main + offset);
  };
  const kind = header.info & 0xf0;
  switch (header.rmid) {
    case RM_XLOG_ID:
      if (kind === XLOG_PARAMETER_CHANGE && word(WAL_LEVEL_OFFSET) === WAL_LEVEL_MINIMAL)
        visitor.unknown('wal_level was minimal: changes were not all logged');
      break;
    case RM_SMGR_ID:
      if (kind === XLOG_SMGR_CREATE) {
        visitor.from({ spc: word(0), db: word(4), rel: word(8), fork: word(12) }, 0);
      } else if (kind === XLOG_SMGR_TRUNCATE && (word(16) & SMGR_TRUNCATE_HEAP) !== 0) {
        visitor.from({ spc: word(4), db: word(8), rel: word(12), fork: 0 }, word(0));
      }
      break;
    case RM_DBASE_ID:
      visitor.database(word(0));
      break;
    case RM_TBLSPC_ID:
      visitor.unknown('a tablespace was created or dropped');
      break;
  }
}
