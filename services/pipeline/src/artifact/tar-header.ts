/*
 * Tar headers (ustar, GNU, pax), decoded for readers that need more than tar-stream
 * gives: where members are in a file, or a check of a stream that costs no copies.
 * Every number is checked against what a member can hold, so that a crafted header
 * fails here with its member and offset named, never further on.
 */
import { decodeFileName } from '@pullback/archive';

/** A tar that does not parse: a bad checksum, a truncated member, a malformed header. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

export const TAR_BLOCK = 512;

/** The largest uid or gid (-1, 2^32 - 1, means "none" to chown). */
export const ID_MAX = 0xffff_fffe;
/** Mtimes from 1970 up to what 11 octal digits hold (2242): anything else is no real export's. */
export const MTIME_MAX = 2 ** 33 - 1;

/** One header block, decoded; pax and GNU long names are applied by the reader (`TarMeta`). */
export interface TarHeader {
  /** Decoded losslessly (`decodeFileName`): names are bytes, not always UTF-8. */
  readonly name: string;
  /** The type flag as stored ('0' for a NUL flag). */
  readonly flag: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  /** Bytes of data that follow the header (padded to whole blocks). */
  readonly size: number;
  readonly linkname: string;
}

/** Decodes one 512-byte header block; `undefined` for a zero block (the end of the archive). */
export function decodeTarHeader(header: Buffer, position: number): TarHeader | undefined {
  if (header.every((byte) => byte === 0)) return undefined;
  checkChecksum(header, position);
  const flag = header[156] === 0 ? '0' : String.fromCharCode(header[156]!);
  // POSIX ustar has a prefix; GNU's magic ("ustar  \0") keeps other fields there.
  const ustar = header.toString('latin1', 257, 263) === 'ustar\0';
  const prefix = ustar ? cString(header.subarray(345, 500)) : '';
  const shortName = cString(header.subarray(0, 100));
  const name = prefix === '' ? shortName : `${prefix}/${shortName}`;
  const field = (what: string, offset: number, length: number, max: number) => {
    const value = readNumber(header, offset, length);
    if (value === undefined || value > max) {
      throw new TarFormatError(
        `member ${JSON.stringify(name)} at byte ${position} has an invalid ${what} field`,
      );
    }
    return value;
  };
  return {
    name,
    flag,
    type: typeOf(flag),
    mode: field('mode', 100, 8, 0o77777777),
    uid: field('uid', 108, 8, ID_MAX),
    gid: field('gid', 116, 8, ID_MAX),
    mtimeNs: BigInt(field('mtime', 136, 12, MTIME_MAX)) * 1_000_000_000n,
    size: field('size', 124, 12, Number.MAX_SAFE_INTEGER),
    linkname: cString(header.subarray(157, 257)),
  };
}

/** Whether a header's data describes the next member (pax, GNU long names) rather than being one. */
export function isMetaHeader(flag: string): boolean {
  return flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
}

/** Blocks a member's data takes, padding included. */
export function paddedSize(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

function typeOf(flag: string): TarHeader['type'] {
  if (flag === '0' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'link';
  return 'other';
}

/** The header's checksum: its bytes summed with the checksum field read as spaces. */
function checkChecksum(header: Buffer, position: number): void {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  if (sum !== readNumber(header, 148, 8)) {
    throw new TarFormatError(`the header at byte ${position} fails its checksum`);
  }
}

/**
 * An octal field, or GNU's base-256 for values that do not fit (high bit set);
 * undefined when it is neither, negative, or beyond what a double holds exactly.
 */
function readNumber(header: Buffer, offset: number, length: number): number | undefined {
  const field = header.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    // The next bit is the sign: no field here may be negative.
    if (field[0]! & 0x40) return undefined;
    let value = field[0]! & 0x3f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

/** The name in a NUL-terminated field, decoded losslessly. */
export function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return decodeFileName(end === -1 ? bytes : bytes.subarray(0, end));
}

/**
 * Pax records: `<length> <key>=<value>\n`, the length in decimal counting the whole
 * record. Values are decoded losslessly: pax says UTF-8, GNU tar writes names' bytes.
 */
export function parsePax(data: Buffer, position: number): Record<string, string> {
  // No prototype: a record's key is anything the tar says.
  const records: Record<string, string> = Object.create(null);
  const malformed = () => new TarFormatError(`the pax header at byte ${position} is malformed`);
  let at = 0;
  while (at < data.length && data[at] !== 0) {
    const space = data.indexOf(0x20, at);
    if (space < 0) throw malformed();
    const digits = data.toString('latin1', at, space);
    const length = Number(digits);
    const end = at + length;
    if (!/^[1-9][0-9]*$/.test(digits) || end > data.length || data[end - 1] !== 0x0a) throw malformed();
    const equals = data.indexOf(0x3d, space + 1);
    if (equals <= space + 1 || equals >= end) throw malformed();
    records[data.toString('utf8', space + 1, equals)] = decodeFileName(data.subarray(equals + 1, end - 1));
    at = end;
  }
  return records;
}
