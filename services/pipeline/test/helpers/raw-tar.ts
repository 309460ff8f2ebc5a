/*
 * Tars written byte by byte, for headers no tar writer would produce (a pax size of
 * -1536, an mtime of "abc", names that are not UTF-8), and the header arithmetic the
 * fuzz test needs to mutate real tars and keep their checksums right.
 */

export const BLOCK = 512;

/** Where each field of a ustar header is: [offset, length]. */
export const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  flag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type FieldName = keyof typeof FIELDS;

export interface RawMember {
  /** The ustar name field (at most 100 bytes). */
  readonly name: string | Buffer;
  /** The type flag; default '0' (a file). */
  readonly flag?: string;
  readonly body?: Buffer;
  readonly linkname?: string | Buffer;
  /** Raw text for numeric fields, written as given instead of the octal of the real value. */
  readonly raw?: Partial<Record<'mode' | 'uid' | 'gid' | 'size' | 'mtime', string | Buffer>>;
  /** Pax records (an 'x' header) for this member. */
  readonly pax?: Readonly<Record<string, string | Buffer>>;
  /** A GNU long name ('L' header) for this member. */
  readonly longName?: string | Buffer;
  /** A GNU long link target ('K' header) for this member. */
  readonly longLink?: string | Buffer;
}

/** A whole tar of `members`, with the two end-of-archive blocks. */
export function rawTar(members: readonly RawMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    if (member.pax !== undefined) parts.push(...metaMember('x', paxData(member.pax)));
    if (member.longName !== undefined) parts.push(...metaMember('L', cData(member.longName)));
    if (member.longLink !== undefined) parts.push(...metaMember('K', cData(member.longLink)));
    const body = member.body ?? Buffer.alloc(0);
    parts.push(
      header({
        name: member.name,
        flag: member.flag ?? '0',
        size: body.length,
        ...(member.linkname === undefined ? {} : { linkname: member.linkname }),
        ...(member.raw === undefined ? {} : { raw: member.raw }),
      }),
      padded(body),
    );
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** One ustar header block, its checksum right. */
export function header(fields: {
  name: string | Buffer;
  flag: string;
  size: number;
  linkname?: string | Buffer;
  raw?: RawMember['raw'];
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  const numbers = { mode: 0o644, uid: 1000, gid: 1000, size: fields.size, mtime: 1_700_000_000 };
  for (const key of ['mode', 'uid', 'gid', 'size', 'mtime'] as const) {
    const [offset, length] = FIELDS[key];
    const raw = fields.raw?.[key];
    const value = raw ?? `${numbers[key].toString(8).padStart(length - 1, '0')}\0`;
    Buffer.from(value).copy(block, offset, 0, length);
  }
  Buffer.from(fields.name).copy(block, 0, 0, 100);
  block.write(fields.flag, FIELDS.flag[0], 'latin1');
  if (fields.linkname !== undefined) Buffer.from(fields.linkname).copy(block, FIELDS.linkname[0], 0, 100);
  block.write('ustar\x0000', FIELDS.magic[0], 'latin1');
  fixChecksum(block);
  return block;
}

/** Rewrites the checksum of the header block at `offset` of `tar`. */
export function fixChecksum(tar: Buffer, offset = 0): void {
  const [at, length] = FIELDS.checksum;
  tar.fill(0x20, offset + at, offset + at + length);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += tar[offset + i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + at, 'latin1');
}

/** Pax records, each `<length> <key>=<value>\n`, the length counting itself. */
export function paxData(records: Readonly<Record<string, string | Buffer>>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length++;
    parts.push(Buffer.from(String(length)), body);
  }
  return Buffer.concat(parts);
}

/** The header and data blocks of a meta member ('x', 'L', 'K') holding `data`. */
export function metaMember(flag: string, data: Buffer): Buffer[] {
  const name = flag === 'x' ? 'PaxHeaders/member' : '././@LongLink';
  return [header({ name, flag, size: data.length }), padded(data)];
}

function cData(text: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(text), Buffer.alloc(1)]);
}

export function padded(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/**
 * The offsets of the header blocks of a well-formed tar, found with nothing but the
 * ustar size field (independently of the reader under test); stops at anything odd.
 */
export function headerOffsets(tar: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const block = tar.subarray(at, at + BLOCK);
    if (block.every((byte) => byte === 0)) break;
    offsets.push(at);
    const [offset, length] = FIELDS.size;
    const size = Number.parseInt(block.toString('latin1', offset, offset + length).replace(/\0.*/, ''), 8);
    if (!Number.isSafeInteger(size)) break;
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return offsets;
}
