/*
 * Arbitraries (fast-check) of tars a crafted or damaged export could hold: real tars
 * with a few mutations (header fields set to odd values, flipped bits, inserted pax
 * headers, duplicated members, members under files, truncation), tars built from
 * generated members, and plain random bytes.
 */
import fc from 'fast-check';
import {
  BLOCK,
  FIELDS,
  type FieldName,
  fixChecksum,
  memberBlocks,
  metaMember,
  paxData,
  type RawMember,
  rawTar,
  tarLayout,
} from './raw-tar.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** Values for numeric fields: valid, negative (a size of -1024 or less once sent the scan back), not numbers, too large. */
const numberText = fc.oneof(
  fc.constantFrom('0', '1', '511', '1536', '1700000000.5', '4294967294'),
  fc.constantFrom('-1536', '-1024', '-512', '-1'),
  fc.constantFrom('abc', '1e3', '0x10', ' 12 ', '', '1.2.3'),
  fc.constantFrom('4294967296', '8589934592', '99999999999999999999'),
);
const octalField = fc.constantFrom(
  bytes('00000000000\0'),
  bytes('00000001000\0'),
  bytes('0000644\0'),
  bytes('77777777777\0'),
  bytes('0000000abc0\0'),
  bytes('-1536\0'),
  bytes('       \0'),
  Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]),
  Buffer.from([0x80, ...Array(11).fill(0xff)]),
  Buffer.from([0xff, ...Array(11).fill(0xff)]),
);
/** Names: ordinary, escaping, odd, too long, not UTF-8. */
const nameText = fc.constantFrom(
  'f',
  'f/x',
  'd',
  'd/a',
  'l/x',
  'hard/x',
  './d/./a',
  'a//b',
  '../x',
  '/etc/x',
  'a/../../b',
  '.',
  '',
  'sub/',
  `d/${'n'.repeat(300)}`,
  `${'p/'.repeat(2100)}x`,
  'caf\xe9',
  'x\0y',
  'base/1/1259',
  'PG_VERSION',
);
const nameBytes = nameText.map((name) => (name === 'caf\xe9' ? bytes(name) : Buffer.from(name)));
const flag = fc.constantFrom('0', '\0', '1', '2', '3', '5', '7', 'x', 'g', 'L', 'K', 'S', 'D', 'V');
/** Pax records: numbers for the numeric keys, names for the others, 1 to 3 of them. */
const paxRecords: fc.Arbitrary<Record<string, Buffer>> = fc
  .array(
    fc.oneof(
      fc.tuple(
        fc.constantFrom('size', 'mtime', 'uid', 'gid'),
        numberText.map((text) => Buffer.from(text)),
      ),
      fc.tuple(fc.constantFrom('path', 'linkpath'), nameBytes),
      fc.tuple(fc.constantFrom('GNU.sparse.major', 'hdrcharset', 'comment'), fc.constant(Buffer.from('1'))),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((records) => Object.fromEntries(records));

export type Mutation =
  | { kind: 'field'; header: number; field: FieldName; value: Buffer; fix: boolean }
  | { kind: 'flip'; at: number; bit: number; fix: boolean }
  | { kind: 'pax'; header: number; records: Record<string, Buffer> }
  | { kind: 'duplicate'; header: number; before: number }
  | { kind: 'child'; header: number }
  | { kind: 'truncate'; at: number };

const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
/** Mostly true: a header whose checksum is wrong is refused at once, and explores little. */
const fixChecksum_ = fc.oneof(
  { arbitrary: fc.constant(true), weight: 4 },
  { arbitrary: fc.constant(false), weight: 1 },
);
const fieldValue = fc.oneof(
  fc.record({ field: fc.constantFrom<FieldName>('mode', 'uid', 'gid', 'size', 'mtime'), value: octalField }),
  fc.record({ field: fc.constantFrom<FieldName>('name', 'linkname', 'prefix'), value: nameBytes }),
  fc.record({ field: fc.constant<FieldName>('flag'), value: flag.map(bytes) }),
  fc.record({
    field: fc.constant<FieldName>('magic'),
    value: fc.constantFrom(bytes('ustar  \0'), bytes('ustar\x0000'), bytes('xxxxxx')),
  }),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({ header: fc.nat(), fix: fixChecksum_, target: fieldValue })
      .map(({ header, fix, target }) => ({ kind: 'field' as const, header, fix, ...target })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      at: fraction,
      bit: fc.integer({ min: 0, max: 7 }),
      fix: fixChecksum_,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('pax' as const), header: fc.nat(), records: paxRecords }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('duplicate' as const), header: fc.nat(), before: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('child' as const), header: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fraction }) },
);

/** A case: the tar, and a short account of how it was made (what fast-check prints). */
export interface TarCase {
  readonly tar: Buffer;
  readonly label: string;
}

function tarCase(tar: Buffer, label: string): TarCase {
  return { tar, label, [fc.toStringMethod]: () => label } as TarCase;
}

/** Bytes shown briefly: as text when they are, cut after 40. */
function show(value: unknown): string {
  if (Buffer.isBuffer(value)) {
    const text = JSON.stringify(value.toString('latin1'));
    return text.length > 42 ? `${text.slice(0, 40)}…(${value.length} bytes)` : text;
  }
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([key, inner]) => `${key}: ${show(inner)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** A seed tar with one to three mutations. */
export function mutatedTar(seeds: readonly { label: string; tar: Buffer }[]): fc.Arbitrary<TarCase> {
  return fc
    .record({
      seed: fc.nat({ max: seeds.length - 1 }),
      mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
    })
    .map(({ seed, mutations }) =>
      tarCase(
        mutations.reduce(mutate, Buffer.from(seeds[seed]!.tar)),
        `${seeds[seed]!.label} with ${mutations.map(show).join(', then ')}`,
      ),
    );
}

/** A tar of generated members: structure (files under files, links, replacements) rather than bytes. */
export const generatedTar: fc.Arbitrary<TarCase> = fc
  .array(
    fc.record(
      {
        name: nameBytes,
        flag: fc.constantFrom('0', '0', '0', '5', '2', '1', '3'),
        body: fc.uint8Array({ maxLength: 1500 }).map(Buffer.from),
        linkname: nameBytes,
        pax: paxRecords,
      },
      { requiredKeys: ['name', 'flag', 'body'] },
    ),
    { maxLength: 8 },
  )
  .map((generated) => {
    // Only files carry data.
    const members = generated.map(
      (member): RawMember => ({ ...member, body: member.flag === '0' ? member.body : Buffer.alloc(0) }),
    );
    return tarCase(rawTar(members), `members ${members.map(show).join(', ')}`);
  });

/** Random bytes. */
export const randomTar: fc.Arbitrary<TarCase> = fc
  .uint8Array({ maxLength: 4 * BLOCK })
  .map((bytes) => tarCase(Buffer.from(bytes), `random bytes ${show(Buffer.from(bytes))}`));

export function mutate(tar: Buffer, change: Mutation): Buffer {
  const { offsets, end } = tarLayout(tar);
  const pick = (n: number) => (offsets.length === 0 ? 0 : offsets[n % offsets.length]!);
  switch (change.kind) {
    case 'field': {
      if (offsets.length === 0) return tar;
      const at = pick(change.header);
      const [offset, length] = FIELDS[change.field];
      tar.fill(0, at + offset, at + offset + length);
      change.value.copy(tar, at + offset, 0, length);
      if (change.fix) fixChecksum(tar, at);
      return tar;
    }
    case 'flip': {
      if (tar.length === 0) return tar;
      const at = Math.floor(change.at * tar.length);
      tar[at] = tar[at]! ^ (1 << change.bit);
      const header = offsets.find((start) => at >= start && at < start + BLOCK);
      if (change.fix && header !== undefined) fixChecksum(tar, header);
      return tar;
    }
    case 'pax': {
      const at = pick(change.header);
      return Buffer.concat([
        tar.subarray(0, at),
        ...metaMember('x', paxData(change.records)),
        tar.subarray(at),
      ]);
    }
    case 'duplicate': {
      if (offsets.length === 0) return tar;
      const index = change.header % offsets.length;
      const member = tar.subarray(offsets[index]!, offsets[index + 1] ?? end);
      const at = pick(change.before);
      return Buffer.concat([tar.subarray(0, at), member, tar.subarray(at)]);
    }
    case 'child': {
      // A member under another member's name: under a file, it could never be restored.
      if (offsets.length === 0) return tar;
      const at = pick(change.header);
      const name = tar
        .toString('latin1', at, at + 100)
        .replace(/\0.*$/s, '')
        .replace(/\/$/, '');
      const child = memberBlocks({
        name: Buffer.from(`${name}/x`, 'latin1').subarray(0, 100),
        body: Buffer.from('x'),
      });
      return Buffer.concat([tar.subarray(0, end), child, tar.subarray(end)]);
    }
    case 'truncate':
      return tar.subarray(0, Math.floor(change.at * tar.length));
  }
}
