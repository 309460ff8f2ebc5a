/** PostgreSQL's page size, the unit data checksums cover (a server built with another has its pages left unchecked). */
export const PAGE_SIZE = 8192;

/** Pages of one relation segment file (RELSEG_SIZE): block numbers continue across `.1`, `.2` ... */
export const PAGES_PER_SEGMENT = 131072;

const LANES = 32;
const FNV_PRIME = 16777619;

/** The starting values of the 32 lanes, as PostgreSQL's storage/checksum_impl.h defines them. */
const LANE_SEEDS = Uint32Array.of(
  0x5b1f36e9,
  0xb8525960,
  0x02ab50aa,
  0x1de66d2a,
  0x79ff467a,
  0x9bb9f8a3,
  0x217e7cd2,
  0x83e13d2c,
  0xf8d4474f,
  0xe39eb970,
  0x42c6ae16,
  0x993216fa,
  0x7b093b5d,
  0x98daff3c,
  0xf718902a,
  0x0b1c9cdb,
  0xe58f764b,
  0x187636bc,
  0x5d7b3bb1,
  0xe73de7de,
  0x92bec979,
  0xcca6c0b2,
  0x304a0979,
  0x85aa43d4,
  0x783125bb,
  0x6ca8eaa2,
  0xe407eac6,
  0x4b5cfc3e,
  0x9fbf8c76,
  0x15ca20be,
  0xf2ca9fd3,
  0x959bd756,
);

const lanes = new Uint32Array(LANES);

/**
 * The data checksum PostgreSQL stores in a page's header (pd_checksum), for block
 * `blockNumber` of its relation: 32 interleaved FNV-1a-like lanes over the page's
 * 32-bit words (pd_checksum taken as zero), two rounds of zeros, folded by XOR, mixed
 * with the block number and mapped to 1..65535. `words` is the page as little-endian
 * 32-bit words (the byte order of the x86 and ARM servers it was written on).
 */
export function pageChecksum(words: Uint32Array, blockNumber: number): number {
  lanes.set(LANE_SEEDS);
  // The first row apart: word 2 holds pd_checksum (its low half) and pd_flags, and the
  // sum is taken without the former. The other rows then run without a test per word.
  for (let lane = 0; lane < LANES; lane++) {
    const mixed = lanes[lane]! ^ (lane === 2 ? words[2]! & 0xffff0000 : words[lane]!);
    lanes[lane] = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
  }
  for (let base = LANES; base < PAGE_SIZE / 4; base += LANES) {
    for (let lane = 0; lane < LANES; lane++) {
      const mixed = lanes[lane]! ^ words[base + lane]!;
      lanes[lane] = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
    }
  }
  // Two rounds of zeros, then folded by XOR.
  let folded = 0;
  for (let lane = 0; lane < LANES; lane++) {
    let mixed = lanes[lane]!;
    mixed = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
    mixed = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
    folded ^= mixed;
  }
  folded = (folded ^ blockNumber) >>> 0;
  return (folded % 65535) + 1;
}

/** What a page's header says, read from its first words. */
export interface PageHeader {
  /** pd_lsn: the WAL position of the last change to the page. */
  readonly lsn: bigint;
  /** pd_checksum. */
  readonly checksum: number;
  /** A page never initialised (pd_upper 0) carries no checksum. */
  readonly isNew: boolean;
}

export function pageHeader(words: Uint32Array): PageHeader {
  return {
    lsn: (BigInt(words[0]!) << 32n) | BigInt(words[1]!),
    checksum: words[2]! & 0xffff,
    isNew: words[3]! >>> 16 === 0,
  };
}

/**
 * Whether a page read during a backup is sound: never initialised (no checksum), its
 * checksum right, or changed after the backup started (`startLsn`), when a torn read
 * is replayed from WAL and is no corruption. The header's LSN (a BigInt) is read only
 * for a page whose sum is wrong.
 */
export function pageIsSound(words: Uint32Array, block: number, startLsn: bigint): boolean {
  if (words[3]! >>> 16 === 0 || pageChecksum(words, block) === (words[2]! & 0xffff)) return true;
  return pageHeader(words).lsn >= startLsn;
}
