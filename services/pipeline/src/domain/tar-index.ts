import { open } from 'node:fs/promises';

/** One member of a tar file, where its bytes are in the file. */
export interface TarMember {
  /** As stored (after pax and GNU long names), not yet checked or normalized. */
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  /** The type flag as stored, for messages about `other`. */
  readonly flag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (pax times keep their fraction). */
  readonly mtime: number;
  readonly size: number;
  /** Offset of the member's first byte in the file. */
  readonly dataOffset: number;
  readonly linkname: string;
}

/** A tar that does not parse: a bad checksum, a truncated member, a malformed header. */
export class TarFormatError extends Error {
  override name = 'TarFormatError';
}

const BLOCK = 512;

/**
 * Lists the members of the tar file at `path` by reading its headers only, skipping
 * over the data: what lets an artifact be archived in place, its members read as
 * slices of the tar, instead of being unpacked first (tar-stream parses streams and
 * says nothing of offsets). Reads ustar and GNU headers, pax extended headers (path,
 * linkpath, size, mtime, uid, gid) and GNU long names; stops at the end-of-archive
 * blocks or at the end of the file on a header boundary.
 */
export async function* scanTar(path: string): AsyncGenerator<TarMember> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const header = Buffer.alloc(BLOCK);
    let position = 0;
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    const readData = async (at: number, size: number): Promise<Buffer> => {
      if (at + size > fileSize) throw new TarFormatError(`a member at byte ${at} is cut short`);
      const data = Buffer.alloc(size);
      await handle.read(data, 0, size, at);
      return data;
    };
    while (position + BLOCK <= fileSize) {
      await handle.read(header, 0, BLOCK, position);
      if (header.every((byte) => byte === 0)) return;
      checkChecksum(header, position);
      const flag = header[156] === 0 ? '0' : String.fromCharCode(header[156]!);
      let size = readNumber(header, 124, 12, position);
      const dataOffset = position + BLOCK;
      const next = () => dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        const data = await readData(dataOffset, size);
        if (flag === 'x') pax = parsePax(data, position);
        if (flag === 'L') longName = cString(data);
        if (flag === 'K') longLink = cString(data);
        position = next();
        continue;
      }
      if (pax.size !== undefined) size = Number(pax.size);
      const ustar = header.toString('latin1', 257, 262) === 'ustar';
      const prefix = ustar ? cString(header.subarray(345, 500)) : '';
      const shortName = cString(header.subarray(0, 100));
      const member: TarMember = {
        name: pax.path ?? longName ?? (prefix === '' ? shortName : `${prefix}/${shortName}`),
        type: typeOf(flag),
        flag,
        mode: readNumber(header, 100, 8, position),
        uid: pax.uid === undefined ? readNumber(header, 108, 8, position) : Number(pax.uid),
        gid: pax.gid === undefined ? readNumber(header, 116, 8, position) : Number(pax.gid),
        mtime: pax.mtime === undefined ? readNumber(header, 136, 12, position) : Number(pax.mtime),
        size: flag === '0' || flag === '7' ? size : 0,
        dataOffset,
        linkname: pax.linkpath ?? longLink ?? cString(header.subarray(157, 257)),
      };
      if (member.type === 'file' && dataOffset + member.size > fileSize) {
        throw new TarFormatError(`member ${member.name} is cut short`);
      }
      yield member;
      pax = {};
      longName = undefined;
      longLink = undefined;
      position = next();
    }
    if (position !== fileSize) throw new TarFormatError('the file ends inside a header');
  } finally {
    await handle.close();
  }
}

function typeOf(flag: string): TarMember['type'] {
  if (flag === '0' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'link';
  return 'other';
}

/** The header's checksum: its bytes summed with the checksum field read as spaces. */
function checkChecksum(header: Buffer, position: number): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
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

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** Pax records: `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePax(data: Buffer, position: number): Record<string, string> {
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
