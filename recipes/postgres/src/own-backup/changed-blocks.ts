import { PAGE_SIZE, PAGES_PER_SEGMENT } from '@pullback/archive';
import type { RecordVisitor, RelFork } from './wal-record-blocks.js';

/** PostgreSQL's default and global tablespaces: base/ and global/. */
const DEFAULT_TABLESPACE = 1663;
const GLOBAL_TABLESPACE = 1664;
const FORKS: Readonly<Record<string, number>> = { '': 0, _fsm: 1, _vm: 2, _init: 3 };
const RELATION_PATH = /^(?:base\/(\d+)|global)\/(\d+)(|_fsm|_vm|_init)(?:\.(\d+))?$/;

/**
 * Blocks remembered before the summary gives up (the export then reads the changed
 * files through, as without WAL): about 40 MB of memory, 8 GB of changed pages.
 */
export const MAX_CHANGED_BLOCKS = 1_000_000;

export interface ForkChanges {
  readonly blocks: Set<number>;
  /** Every block from this one on changed (truncated or created); Infinity: none. */
  from: number;
}

/**
 * The blocks that WAL records name between two LSNs, by relation fork: what the
 * agent's own incremental export reads instead of every changed file whole. Told of
 * each record by `visitRecord`; asked, per relation file, which of its blocks to take.
 */
export class ChangedBlocks implements RecordVisitor {
  private readonly forks = new Map<string, ForkChanges>();
  private readonly databases = new Set<number>();
  private count = 0;
  /** Set when the summary cannot be trusted for any file: why. */
  whyNot: string | undefined;

  block(spc: number, db: number, rel: number, fork: number, block: number): void {
    const changes = this.changesOf(spc, db, rel, fork);
    if (changes.blocks.has(block)) return;
    changes.blocks.add(block);
    if (++this.count > MAX_CHANGED_BLOCKS)
      this.unknown(`over ${MAX_CHANGED_BLOCKS} blocks changed: reading the changed files is as cheap`);
  }

  from(fork: RelFork, block: number): void {
    const changes = this.changesOf(fork.spc, fork.db, fork.rel, fork.fork);
    changes.from = Math.min(changes.from, block);
  }

  database(db: number): void {
    this.databases.add(db);
  }

  unknown(why: string): void {
    this.whyNot ??= why;
    this.forks.clear();
    this.recent.length = 0;
  }

  /** What was found, by relation fork (`spc/db/rel/fork`), and the databases whose files cannot be followed. */
  summary(): { forks: ReadonlyMap<string, Readonly<ForkChanges>>; databases: ReadonlySet<number> } {
    return { forks: this.forks, databases: this.databases };
  }

  /** Distinct blocks named so far. */
  get blockCount(): number {
    return this.count;
  }

  /**
   * The blocks of relation file `path` (relative to the data directory) to read, by
   * their number in the file, sorted: those the WAL names, and every one from the
   * file's size at the previous export (`previousSize`) or from where the WAL truncated
   * or created it, up to its `size` now. Undefined when the summary cannot say (not a
   * relation file, not whole pages, its database copied or dropped): read it through.
   */
  blocksOf(path: string, previousSize: number, size: number): Uint32Array | undefined {
    const match = RELATION_PATH.exec(path);
    if (this.whyNot !== undefined || match === null || size % PAGE_SIZE !== 0) return undefined;
    const db = match[1] === undefined ? 0 : Number(match[1]);
    if (this.databases.has(db)) return undefined;
    const fork: RelFork = {
      spc: match[1] === undefined ? GLOBAL_TABLESPACE : DEFAULT_TABLESPACE,
      db,
      rel: Number(match[2]),
      fork: FORKS[match[3]!]!,
    };
    const first = Number(match[4] ?? 0) * PAGES_PER_SEGMENT;
    const changes = this.forks.get(keyOf(fork));
    const blocks = size / PAGE_SIZE;
    const tail = Math.max(
      0,
      Math.min(Math.floor(previousSize / PAGE_SIZE), (changes?.from ?? Number.POSITIVE_INFINITY) - first),
    );
    const found: number[] = [];
    for (const block of changes?.blocks ?? []) {
      const local = block - first;
      if (local >= 0 && local < Math.min(tail, blocks)) found.push(local);
    }
    found.sort((a, b) => a - b);
    for (let block = tail; block < blocks; block++) found.push(block);
    return Uint32Array.from(found);
  }

  /** Records name the same few relations again and again: the last ones found are kept at hand. */
  private readonly recent: { spc: number; db: number; rel: number; fork: number; changes: ForkChanges }[] =
    [];

  private changesOf(spc: number, db: number, rel: number, fork: number): ForkChanges {
    for (const hit of this.recent) {
      if (hit.rel === rel && hit.db === db && hit.spc === spc && hit.fork === fork) return hit.changes;
    }
    const key = keyOf({ spc, db, rel, fork });
    let changes = this.forks.get(key);
    if (changes === undefined) {
      changes = { blocks: new Set(), from: Number.POSITIVE_INFINITY };
      if (this.whyNot === undefined) this.forks.set(key, changes);
    }
    if (this.recent.length >= 4) this.recent.pop();
    this.recent.unshift({ spc, db, rel, fork, changes });
    return changes;
  }
}

function keyOf(fork: RelFork): string {
  return `${fork.spc}/${fork.db}/${fork.rel}/${fork.fork}`;
}
