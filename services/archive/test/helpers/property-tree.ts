import fc from 'fast-check';

/**
 * What the property test generates and checks. Each flag turns on the generators (and
 * the exact checks) of one restore-fidelity feature; they are on once the archive keeps
 * the feature (issue 8, item 7 and item 2).
 */
export interface Fidelity {
  /** Names that are not valid UTF-8 (bytes 0x80-0xff in any order). */
  readonly nonUtf8Names: boolean;
  /** Sparse files: holes stay holes (not allocated) after a full restore. */
  readonly holes: boolean;
  /**
   * ...and after a delta restore over a file whose bytes there were not zeros (the zeros
   * must then be punched, not written).
   */
  readonly holesInDeltaRestores: boolean;
  /** Hard links within the tree come back as hard links. */
  readonly hardLinks: boolean;
  /**
   * mtimes equal to the microsecond (what utimes(2) from Node can set: libuv truncates
   * to microseconds), not only within two.
   */
  readonly microsecondMtimes: boolean;
  /** mtimes equal to the nanosecond (a restore sets them through perl's utimensat, see src/restore/exact-times.ts). */
  readonly nanosecondMtimes: boolean;
}

/**
 * The archive's thresholds, as the property archive is configured (see
 * `PROPERTY_CHUNKER` and src/repository/config.ts): small files are bundled below
 * 64 KiB, bundles close at 1 MiB, content-defined chunks are 4-64 KiB (avg 16 KiB), a
 * file of more than 32 chunks keeps its list in chunk maps, chunk tasks cover 2 MiB,
 * relation files are cut in 8 KiB pages and 128 KiB superblocks.
 */
export const PROPERTY_CHUNKER = { minSize: 4096, avgSize: 16384, maxSize: 65536 } as const;
const THRESHOLDS = [1, 4096, 8192, 16384, 65536, 131072, 32 * 16384, 1024 * 1024];
const RARE_THRESHOLDS = [2 * 1024 * 1024];

/** A byte string that repeats to fill a file: random bytes, a shared block, zeros, or a hole. */
export type Segment =
  | { readonly kind: 'random'; readonly seed: number; readonly length: number }
  | { readonly kind: 'block'; readonly block: number; readonly reversed: boolean }
  | { readonly kind: 'zeros'; readonly length: number }
  | { readonly kind: 'hole'; readonly length: number };

/** A file's bytes: `pattern` repeated (and cut) to `size`. */
export interface Content {
  readonly size: number;
  readonly pattern: readonly Segment[];
}

export type EntrySpec =
  | { readonly kind: 'file'; readonly content: Content; readonly mode: number; readonly mtime?: number }
  | { readonly kind: 'relation'; readonly content: Content; readonly mode: number }
  | { readonly kind: 'symlink'; readonly target: Buffer }
  | { readonly kind: 'hardlink'; readonly to: number }
  | { readonly kind: 'dir'; readonly mode: number };

export interface PlacedEntry {
  /** Index of the directory it goes in (0: the root). */
  readonly dir: number;
  readonly name: Buffer;
  readonly spec: EntrySpec;
}

export interface TreeSpec {
  /** Shared blocks, by length (their bytes come from the case's seed). */
  readonly blocks: readonly number[];
  readonly entries: readonly PlacedEntry[];
}

/** A change between two backups; numbers pick among what exists at that moment. */
export type Change =
  | { readonly kind: 'insert'; readonly pick: number; readonly at: number; readonly data: Segment }
  | { readonly kind: 'delete'; readonly pick: number; readonly at: number; readonly length: number }
  | { readonly kind: 'overwrite'; readonly pick: number; readonly at: number; readonly data: Segment }
  | { readonly kind: 'truncate'; readonly pick: number; readonly size: number }
  | { readonly kind: 'append'; readonly pick: number; readonly data: Segment }
  | { readonly kind: 'rename'; readonly pick: number; readonly dir: number; readonly name: Buffer }
  | { readonly kind: 'create'; readonly dir: number; readonly entry: PlacedEntry }
  | { readonly kind: 'remove'; readonly pick: number }
  /** Another entry (often of another type) in the place of one, under the same name. */
  | { readonly kind: 'replace'; readonly pick: number; readonly spec: EntrySpec }
  | { readonly kind: 'chmod'; readonly pick: number; readonly mode: number }
  | { readonly kind: 'touch'; readonly pick: number; readonly mtime: number };

export interface PropertyCase {
  readonly seed: number;
  readonly tree: TreeSpec;
  /** Backed up after each step: a step is one to three changes. */
  readonly steps: readonly (readonly Change[])[];
}

const FILE_MODES = [0o644, 0o600, 0o755, 0o640, 0o444, 0o4755, 0o2750];
const DIR_MODES = [0o755, 0o700, 0o750, 0o1777];

function size(): fc.Arbitrary<number> {
  const near = (list: number[]) =>
    fc.constantFrom(...list).chain((t) => fc.integer({ min: Math.max(0, t - 3), max: t + 3 }));
  return fc.oneof(
    { arbitrary: fc.constant(0), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 3000 }), weight: 6 },
    { arbitrary: near(THRESHOLDS.slice(0, 6)), weight: 6 },
    { arbitrary: fc.integer({ min: 3000, max: 300_000 }), weight: 4 },
    { arbitrary: near(THRESHOLDS.slice(6)), weight: 1 },
    { arbitrary: near(RARE_THRESHOLDS), weight: 1 },
  );
}

function segment(fidelity: Fidelity, blocks: number): fc.Arbitrary<Segment> {
  const options: fc.WeightedArbitrary<Segment>[] = [
    {
      arbitrary: fc.record({
        kind: fc.constant('random' as const),
        seed: fc.nat(1000),
        length: fc.integer({ min: 1, max: 70_000 }),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('block' as const),
        block: fc.nat(blocks - 1),
        reversed: fc.boolean(),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('zeros' as const),
        length: fc.integer({ min: 1, max: 40_000 }),
      }),
      weight: 1,
    },
  ];
  if (fidelity.holes) {
    options.push({
      arbitrary: fc.record({
        kind: fc.constant('hole' as const),
        length: fc.integer({ min: 1, max: 64 }).map((pages) => pages * 4096),
      }),
      weight: 2,
    });
  }
  return fc.oneof(...options);
}

function content(fidelity: Fidelity, blocks: number, relation = false): fc.Arbitrary<Content> {
  return fc.record({
    size: relation ? size().map((s) => (s % 3 === 0 ? s : s - (s % 8192))) : size(),
    pattern: fc.array(segment(fidelity, blocks), { minLength: 1, maxLength: 4 }),
  });
}

/** Names: plain and odd text, and (with the flag) any bytes but NUL and `/`. */
export function nameArb(fidelity: Fidelity): fc.Arbitrary<Buffer> {
  const text = fc
    .string({
      unit: fc.constantFrom(...'abcxyz019-_. é名😀\n'.split(/(?:)/u)),
      minLength: 1,
      maxLength: 12,
    })
    .map((s) => Buffer.from(s));
  const options: fc.WeightedArbitrary<Buffer>[] = [
    { arbitrary: fc.nat(30).map((n) => Buffer.from(`f${n}`)), weight: 4 },
    { arbitrary: text, weight: 3 },
  ];
  if (fidelity.nonUtf8Names) {
    options.push({
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 10 })
        .map((bytes) => Buffer.from(bytes.map((b) => (b === 0 ? 0xe9 : b === 0x2f ? 0xff : b)))),
      weight: 2,
    });
  }
  return fc
    .oneof(...options)
    .filter((name) => !name.equals(Buffer.from('.')) && !name.equals(Buffer.from('..')));
}

function symlinkTarget(fidelity: Fidelity): fc.Arbitrary<Buffer> {
  return fc.oneof(
    nameArb(fidelity),
    fc.constantFrom('/etc/hostname', '../outside', 'f1', 'd/f2', '.').map((s) => Buffer.from(s)),
  );
}

function entrySpec(fidelity: Fidelity, blocks: number): fc.Arbitrary<EntrySpec> {
  const options: fc.WeightedArbitrary<EntrySpec>[] = [
    {
      arbitrary: fc.record(
        {
          kind: fc.constant('file' as const),
          content: content(fidelity, blocks),
          mode: fc.constantFrom(...FILE_MODES),
          mtime: fc.integer({ min: 0, max: 2_000_000_000 }),
        },
        { requiredKeys: ['kind', 'content', 'mode'] },
      ),
      weight: 10,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('relation' as const),
        content: content(fidelity, blocks, true),
        mode: fc.constant(0o600),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ kind: fc.constant('symlink' as const), target: symlinkTarget(fidelity) }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ kind: fc.constant('dir' as const), mode: fc.constantFrom(...DIR_MODES) }),
      weight: 1,
    },
  ];
  if (fidelity.hardLinks) {
    options.push({
      arbitrary: fc.record({ kind: fc.constant('hardlink' as const), to: fc.nat(40) }),
      weight: 3,
    });
  }
  return fc.oneof(...options);
}

function placed(fidelity: Fidelity, blocks: number): fc.Arbitrary<PlacedEntry> {
  return fc.record({ dir: fc.nat(8), name: nameArb(fidelity), spec: entrySpec(fidelity, blocks) });
}

function change(fidelity: Fidelity, blocks: number): fc.Arbitrary<Change> {
  const pick = fc.nat(1000);
  const at = fc.double({ min: 0, max: 1, noNaN: true });
  const data = segment(fidelity, blocks);
  return fc.oneof(
    fc.record({ kind: fc.constant('insert' as const), pick, at, data }),
    fc.record({
      kind: fc.constant('delete' as const),
      pick,
      at,
      length: fc.integer({ min: 1, max: 70_000 }),
    }),
    fc.record({ kind: fc.constant('overwrite' as const), pick, at, data }),
    fc.record({ kind: fc.constant('truncate' as const), pick, size: size() }),
    fc.record({ kind: fc.constant('append' as const), pick, data }),
    fc.record({ kind: fc.constant('rename' as const), pick, dir: fc.nat(8), name: nameArb(fidelity) }),
    fc.record({ kind: fc.constant('create' as const), dir: fc.nat(8), entry: placed(fidelity, blocks) }),
    fc.record({ kind: fc.constant('remove' as const), pick }),
    fc.record({ kind: fc.constant('replace' as const), pick, spec: entrySpec(fidelity, blocks) }),
    fc.record({ kind: fc.constant('chmod' as const), pick, mode: fc.constantFrom(...FILE_MODES) }),
    fc.record({
      kind: fc.constant('touch' as const),
      pick,
      mtime: fc.integer({ min: 0, max: 2_000_000_000 }),
    }),
  );
}

/** A case: a tree and the changes made to it, one backup before and after each. */
export function propertyCase(fidelity: Fidelity): fc.Arbitrary<PropertyCase> {
  return fc.array(fc.integer({ min: 1000, max: 70_000 }), { minLength: 1, maxLength: 3 }).chain((blocks) =>
    fc.record({
      seed: fc.nat(1_000_000),
      tree: fc.record({
        blocks: fc.constant(blocks),
        entries: fc.array(placed(fidelity, blocks.length), { maxLength: 14 }),
      }),
      steps: fc.array(fc.array(change(fidelity, blocks.length), { minLength: 1, maxLength: 3 }), {
        maxLength: 3,
      }),
    }),
  );
}
