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

export function recordHeader(bytes: Buffer): RecordHeader {
  return {
    totalLength: bytes.readUInt32LE(0),
    prev: bytes.readUInt32LE(8) + bytes.readUInt32LE(12) * 0x100000000,
    info: bytes.readUInt8(16),
    rmid: bytes.readUInt8(17),
  };
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
export function visitRecord(bytes: Buffer, compressedFlags: number, visitor: RecordVisitor): void {
  const header = recordHeader(bytes);
  const fail = (why: string): never => {
    throw new WalRecordError(`record of rmgr ${header.rmid}: ${why}`);
  };
  let at = RECORD_HEADER;
  const take = (size: number): number => {
    if (at + size > bytes.length) fail('its headers run past the bytes read');
    const from = at;
    at += size;
    return from;
  };
  let remaining = header.totalLength - RECORD_HEADER;
  let dataTotal = 0;
  let mainData = 0;
  let blockCount = 0;
  let sameRel = -1;
  let lastId = -1;
  while (remaining > dataTotal) {
    const id = bytes.readUInt8(take(1));
    remaining -= 1;
    if (id === BLOCK_ID_DATA_SHORT) {
      mainData = bytes.readUInt8(take(1));
      remaining -= 1;
      dataTotal += mainData;
      break;
    }
    if (id === BLOCK_ID_DATA_LONG) {
      mainData = bytes.readUInt32LE(take(4));
      remaining -= 4;
      dataTotal += mainData;
      break;
    }
    if (id === BLOCK_ID_ORIGIN) {
      take(2);
      remaining -= 2;
      continue;
    }
    if (id === BLOCK_ID_TOPLEVEL_XID) {
      take(4);
      remaining -= 4;
      continue;
    }
    // Block ids rise within a record (xloginsert.c): at most MAX_BLOCK_ID + 1 of them.
    if (id > MAX_BLOCK_ID || id <= lastId) fail(`block id ${id} after ${lastId}`);
    lastId = id;
    const forkFlags = bytes.readUInt8(take(1));
    dataTotal += bytes.readUInt16LE(take(2));
    remaining -= 3;
    if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
      const image = take(5);
      dataTotal += bytes.readUInt16LE(image);
      remaining -= 5;
      const imageInfo = bytes.readUInt8(image + 4);
      if ((imageInfo & BKPIMAGE_HAS_HOLE) !== 0 && (imageInfo & compressedFlags) !== 0) {
        take(2);
        remaining -= 2;
      }
    }
    if ((forkFlags & BKPBLOCK_SAME_REL) === 0) {
      sameRel = take(12);
      remaining -= 12;
    } else if (sameRel < 0) {
      fail('its first block says "same relation"');
    }
    // Where its relation is, its fork and block number: told once the whole record adds up.
    const found = blockCount++ * 3;
    BLOCKS[found] = sameRel;
    BLOCKS[found + 1] = forkFlags & BKPBLOCK_FORK_MASK;
    BLOCKS[found + 2] = bytes.readUInt32LE(take(4));
    remaining -= 4;
  }
  if (remaining !== dataTotal) fail(`its headers and data do not add up to its ${header.totalLength} bytes`);
  for (let index = 0; index < blockCount * 3; index += 3) {
    const node = BLOCKS[index]!;
    visitor.block(
      bytes.readUInt32LE(node),
      bytes.readUInt32LE(node + 4),
      bytes.readUInt32LE(node + 8),
      BLOCKS[index + 1]!,
      BLOCKS[index + 2]!,
    );
  }
  // Main data follows the blocks' data; the records read below have no blocks.
  const main = at + dataTotal - mainData;
  const word = (offset: number): number => {
    if (blockCount > 0 || main + offset + 4 > bytes.length || offset + 4 > mainData)
      fail('its main data is not where it should be');
    return bytes.readUInt32LE(main + offset);
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
