/*
 * Tar headers (ustar, GNU, pax), decoded for readers that need more than tar-stream
 * gives: where members are in a file, or a check of a stream that costs no copies.
 */
/** A tar that does not parse: a bad checksum, a truncated member, a malformed header. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

export const TAR_BLOCK = 512;

/** One header block, decoded; pax and GNU long names are applied by the reader. */
export interface TarHeader {
  readonly name: string;
  /** The type flag as stored ('0' for a NUL flag). */
  readonly flag: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  /** Bytes of data that follow the header (padded to whole blocks). */
  readonly size: number;
  readonly linkname: string;
}

/** Decodes one 512-byte header block; `undefined` for a zero block (the end of the archive). */
export function decodeTarHeader(header: Buffer, position: number): TarHeader | undefined {
  if (header.every((byte) => byte === 0)) return undefined;
  checkChecksum(header, position);
  const flag = header[156] === 0 ? '0' : String.fromCharCode(header[156]!);
  const ustar = header.toString('latin1', 257, 262) === 'ustar';
  const prefix = ustar ? cString(header.subarray(345, 500)) : '';
  const shortName = cString(header.subarray(0, 100));
  return {
    name: prefix === '' ? shortName : `${prefix}/${shortName}`,
    flag,
    type: typeOf(flag),
    mode: readNumber(header, 100, 8, position),
    uid: readNumber(header, 108, 8, position),
    gid: readNumber(header, 116, 8, position),
    mtime: readNumber(header, 136, 12, position),
    size: readNumber(header, 124, 12, position),
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
  if (sum !== readNumber(header, 148, 8, position)) {
    throw new TarFormatError(`the header at byte ${position} fails its checksum`);
  }
}

/** An octal field, or GNU's base-256 for values that do not fit (high bit set). */
function readNumber(header: Buffer, offset: number, length: number, position: number): number {
  const field = header.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new TarFormatError(`the header at byte ${position} has a malformed number`);
  return Number.parseInt(text, 8);
}

export function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** Pax records: `<length> <key>=<value>\n`, the length counting the whole record. */
export function parsePax(data: Buffer, position: number): Record<string, string> {
  const records: Record<string, string> = {};
  let at = 0;
  while (at < data.length && data[at] !== 0) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.toString('latin1', at, space));
    if (space < 0 || !Number.isInteger(length) || length <= 0 || at + length > data.length) {
      throw new TarFormatError(`the pax header at byte ${position} is malformed`);
    }
    const record = data.toString('utf8', space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}
