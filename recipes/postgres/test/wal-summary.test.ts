import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lsnToBigInt } from '../src/lsn.js';
import { ChangedBlocks } from '../src/own-backup/changed-blocks.js';
import { visitRecord, WalRecordError } from '../src/own-backup/wal-record-blocks.js';
import { summarizeWal, type WalRange } from '../src/own-backup/wal-summary.js';

const execFileAsync = promisify(execFile);
const SEGMENT = 16 * 1024 * 1024;

let server: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
/** The WAL between two checkpoints' redo points, with every kind of change the summary must follow. */
let range: WalRange;
/** What pg_waldump says the same records touch: `spc/db/rel/fork` to blocks. */
const expected = new Map<string, Set<number>>();
let truncated = '';
let createdDatabase = 0;

const FORK_NUMBERS: Readonly<Record<string, number>> = { main: 0, fsm: 1, vm: 2, init: 3 };

async function redo(): Promise<number> {
  await server.psql('checkpoint');
  return Number(lsnToBigInt(await server.psql('select redo_lsn from pg_control_checkpoint()')));
}

/** A 16 MiB segment's number, from its file name: 256 to each 4 GiB of WAL. */
function segmentOf(name: string): number {
  return parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16), 16);
}

function lsnText(position: number): string {
  return `${Math.floor(position / 0x100000000).toString(16)}/${(position % 0x100000000).toString(16)}`;
}

beforeAll(async () => {
  // Positions past 2^32, as a server's are after its first 4 GiB of WAL.
  server = await startPostgres({ settings: { max_wal_size: "'1GB'" }, walStart: '000000010000000500000000' });
  scratch = await scratchDir('wal-summary');
  // Holds the WAL from here on, as the export's slot does.
  await server.psql("select pg_create_physical_replication_slot('held', true)");
  const from = await redo();
  await server.psql('create table kept as select g, md5(g::text) as h from generate_series(1, 20000) g');
  await server.psql('create index on kept (g)');
  await server.psql('vacuum kept');
  await server.psql('update kept set h = h || $$x$$ where g % 97 = 0');
  await server.psql('delete from kept where g > 15000');
  await server.psql('vacuum kept');
  // A record of 3 MiB: its pages span several of the windows the summary reads.
  await server.psql(`select pg_logical_emit_message(false, 'big', repeat('x', 3 * 1024 * 1024))`);
  await server.psql('update kept set h = h || $$y$$ where g % 89 = 0');
  await server.psql('select pg_switch_wal()');
  await server.psql('create database copied');
  await server.psql('insert into kept select g, $$late$$ from generate_series(20001, 20500) g');
  const to = await redo();
  truncated = `1663/${await server.psql("select oid from pg_database where datname = 'postgres'")}/${await server.psql("select pg_relation_filenode('kept')")}/0`;
  createdDatabase = Number(await server.psql("select oid from pg_database where datname = 'copied'"));
  range = { pgWal: join(server.dataDir, 'pg_wal'), timeline: 1, from, to, segmentSize: SEGMENT };
  const { stdout } = await execFileAsync(
    join(server.binDir, 'pg_waldump'),
    ['--path', range.pgWal, '--start', lsnText(from), '--end', lsnText(to)],
    { maxBuffer: 512 * 1024 * 1024 },
  );
  for (const match of stdout.matchAll(/blkref #\d+: rel (\d+\/\d+\/\d+)(?: fork (\w+))? blk (\d+)/g)) {
    const key = `${match[1]}/${FORK_NUMBERS[match[2] ?? 'main']}`;
    const blocks = expected.get(key) ?? new Set<number>();
    blocks.add(Number(match[3]));
    expected.set(key, blocks);
  }
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await scratch?.remove();
});

describe('the WAL summary', () => {
  it('names exactly the blocks pg_waldump names, the truncation and the database created', async () => {
    const summary = await summarizeWal(range);
    if (summary.blocks === undefined) throw new Error(summary.whyNot);
    const { forks, databases } = summary.blocks.summary();
    // Forks only created (no block named yet) have no blocks to compare.
    const found = new Map(
      [...forks]
        .filter(([, changes]) => changes.blocks.size > 0)
        .map(([key, changes]) => [key, new Set(changes.blocks)]),
    );
    expect(range.from).toBeGreaterThan(2 ** 32);
    expect(expected.size).toBeGreaterThan(20);
    expect(found).toEqual(expected);
    // VACUUM cut `kept` short: everything past where it ends now is taken as changed.
    expect(forks.get(truncated)?.from).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(databases.has(createdDatabase)).toBe(true);
  });

  it('says why when a record spans more than it will hold in memory', async () => {
    const from = await redo();
    await server.psql(`select pg_logical_emit_message(false, 'huge', repeat('x', 70 * 1024 * 1024))`);
    const to = await redo();
    const summary = await summarizeWal({ ...range, from, to });
    expect(summary.blocks).toBeUndefined();
    expect(summary).toMatchObject({
      whyNot: expect.stringMatching(/^the record at [0-9A-F/]+ spans more than 63 MiB$/i),
    });
  }, 120_000);

  it('gives a file the blocks named in it and every block past its old size or its truncation', () => {
    const blocks = new ChangedBlocks();
    const fork = { spc: 1663, db: 5, rel: 16384, fork: 0 };
    for (const block of [3, 1, 131072 + 2, 9]) blocks.block(fork.spc, fork.db, fork.rel, fork.fork, block);
    // 10 blocks then, 12 now: 10 and 11 are new; 9 is named.
    expect([...blocks.blocksOf('base/5/16384', 10 * 8192, 12 * 8192)!]).toEqual([1, 3, 9, 10, 11]);
    // The second segment: block 131074 is its block 2.
    expect([...blocks.blocksOf('base/5/16384.1', 4 * 8192, 4 * 8192)!]).toEqual([2]);
    expect([...blocks.blocksOf('base/5/16384_vm', 8192, 8192)!]).toEqual([]);
    blocks.from(fork, 5);
    expect([...blocks.blocksOf('base/5/16384', 10 * 8192, 12 * 8192)!]).toEqual([
      1, 3, 5, 6, 7, 8, 9, 10, 11,
    ]);
    blocks.database(7);
    expect(blocks.blocksOf('base/7/1259', 8192, 8192)).toBeUndefined();
    expect(blocks.blocksOf('base/5/PG_VERSION', 3, 3)).toBeUndefined();
    expect(blocks.blocksOf('base/5/16384', 8192, 100)).toBeUndefined();
  });

  it('says why when a segment it needs is gone or was recycled, never a wrong summary', async () => {
    const copy = join(scratch.path, 'pg_wal-copy');
    await mkdir(copy, { recursive: true });
    const names = (await readdir(range.pgWal)).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
    const first = names.find((name) => segmentOf(name) === Math.floor(range.from / SEGMENT))!;
    const needed = names.filter((name) => name >= first && segmentOf(name) <= Math.floor(range.to / SEGMENT));
    expect(needed.length).toBeGreaterThanOrEqual(2);
    for (const name of needed.slice(1)) await copyFile(join(range.pgWal, name), join(copy, name));
    const gone = await summarizeWal({ ...range, pgWal: copy });
    expect(gone.blocks).toBeUndefined();
    expect(gone.blocks === undefined && gone.whyNot).toContain(`${needed[0]} is no longer in pg_wal`);

    // A recycled segment: the first one's bytes under the second one's name.
    await copyFile(join(range.pgWal, needed[0]!), join(copy, needed[0]!));
    await copyFile(join(range.pgWal, needed[0]!), join(copy, needed[1]!));
    const recycled = await summarizeWal({ ...range, pgWal: copy });
    expect(recycled.blocks === undefined && recycled.whyNot).toMatch(/not that page/);
  });

  it('returns a summary or a reason for WAL with any bytes changed, and never throws', async () => {
    const copy = join(scratch.path, 'pg_wal-fuzz');
    await mkdir(copy, { recursive: true });
    const firstSegment = Math.floor(range.from / SEGMENT);
    const name = (await readdir(range.pgWal)).find(
      (entry) => /^[0-9A-F]{24}$/.test(entry) && segmentOf(entry) === firstSegment,
    )!;
    const original = await readFile(join(range.pgWal, name));
    const start = range.from % SEGMENT;
    // The first segment only, read up to its end: flips anywhere in what the records span.
    const end = Math.min(range.to, (firstSegment + 1) * SEGMENT - 8192);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: start, max: end % SEGMENT || SEGMENT - 1 }),
            fc.integer({ min: 1, max: 255 }),
          ),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        async (flips) => {
          const bytes = Buffer.from(original);
          for (const [at, mask] of flips) bytes[at] = bytes[at]! ^ mask;
          await writeFile(join(copy, name), bytes);
          const summary = await summarizeWal({ ...range, pgWal: copy, to: end });
          expect(summary.blocks !== undefined || summary.whyNot.length > 0).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads a record header of any bytes as blocks or a WalRecordError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 1024 }), fc.boolean(), (bytes, methods) => {
        const record = Buffer.from(bytes);
        record.writeUInt32LE(Math.min(record.readUInt32LE(0), 4096), 0);
        const visitor = new ChangedBlocks();
        try {
          visitRecord(record, methods ? 0x1c : 0x02, visitor);
        } catch (error) {
          expect(error).toBeInstanceOf(WalRecordError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
