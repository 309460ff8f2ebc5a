import { cString, ID_MAX, MTIME_MAX, parsePax, TarFormatError, type TarHeader } from './tar-header.js';

/** Meta data is read into memory: names and a few numbers never need more than this. */
export const META_MAX = 1024 * 1024;

/**
 * What meta headers say about the member after them: a pax extended header ('x':
 * path, linkpath, size, mtime, uid, gid) and GNU long names ('L', 'K'), pax first.
 * Global pax headers ('g') are read past and not applied: pg_basebackup and GNU tar
 * write none. A value that is empty counts as absent. Every value is checked: a
 * member whose numbers are out of range is refused, naming it and its offset.
 */
export class TarMeta {
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;

  /** The size of a meta header's data, refused beyond `META_MAX`. */
  static dataSize(header: TarHeader, position: number): number {
    if (header.size > META_MAX) {
      throw new TarFormatError(
        `the ${header.flag} header at byte ${position} holds ${header.size} bytes, more than meta data ever needs`,
      );
    }
    return header.size;
  }

  /** Takes the data of the meta header of type `flag` at `position`. */
  add(flag: string, data: Buffer, position: number): void {
    if (flag === 'x') this.pax = parsePax(data, position);
    else if (flag === 'L') this.longName = cString(data);
    else if (flag === 'K') this.longLink = cString(data);
  }

  /** The member whose header is `header`, at `position`, as the meta amends it; the meta is then spent. */
  apply(header: TarHeader, position: number): TarHeader {
    const pax = this.pax;
    this.pax = {};
    const name = pax.path || this.longName || header.name;
    const linkname = pax.linkpath || this.longLink || header.linkname;
    this.longName = undefined;
    this.longLink = undefined;
    const where = `member ${JSON.stringify(name)} at byte ${position}`;
    if (Object.keys(pax).some((key) => key.startsWith('GNU.sparse.'))) {
      // Its data is a map of holes, then the pieces: taken as a file it would be wrong.
      throw new TarFormatError(`${where} is a sparse file, which the pull cannot read`);
    }
    const invalid = (key: string) =>
      new TarFormatError(`${where} has an invalid ${key}: ${JSON.stringify(pax[key])} (pax)`);
    const integer = (key: 'size' | 'uid' | 'gid', max: number, fallback: number) => {
      const text = pax[key];
      if (!text) return fallback;
      const value = Number(text);
      if (!/^[0-9]+$/.test(text) || value > max) throw invalid(key);
      return value;
    };
    const mtimeNs = pax.mtime ? mtimeNsOf(pax.mtime) : header.mtimeNs;
    if (mtimeNs === undefined) throw invalid('mtime');
    return {
      ...header,
      name,
      linkname,
      size: integer('size', Number.MAX_SAFE_INTEGER, header.size),
      uid: integer('uid', ID_MAX, header.uid),
      gid: integer('gid', ID_MAX, header.gid),
      mtimeNs,
    };
  }
}

/** A pax mtime, decimal seconds with an optional fraction, in nanoseconds; undefined out of range. */
function mtimeNsOf(text: string): bigint | undefined {
  const match = /^([0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (match === null) return undefined;
  const seconds = BigInt(match[1]!);
  if (seconds > BigInt(MTIME_MAX)) return undefined;
  return seconds * 1_000_000_000n + BigInt((match[2] ?? '').slice(0, 9).padEnd(9, '0'));
}
