import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, restoreSnapshot } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { pseudoRandom, writeAt, writeLargeFile } from './helpers/make-tree.js';

const PAGE = 8192;
const RELATION = 'base/16384/16385';

describe('relation files and delta restore', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('relation');
    // 96 MiB of incompressible pages, so stored bytes measure pages, not compression.
    await writeLargeFile(ws.path('pg', RELATION), 96 * 1024 * 1024, (i, n) => pseudoRandom(i + 7, n));
    await writeLargeFile(ws.path('pg', 'base/16384/16385_fsm'), 3 * PAGE, (i, n) => pseudoRandom(i + 99, n));
    await mkdir(ws.path('pg', 'global'), { recursive: true });
    await writeFile(ws.path('pg', 'global', 'pg_control'), pseudoRandom(5, 8192));
    await writeFile(ws.path('pg', 'PG_VERSION'), '15\n');
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('stores about the changed pages of a relation file, not the file', async () => {
    const first = await backupTree(ws.archive, ws.path('pg'));
    expect(first.stats.newBytesStored).toBeGreaterThan(96 * 1024 * 1024);
    // Three scattered pages change in place, one page is appended.
    for (const page of [3, 5000, 11_000])
      await writeAt(ws.path('pg', RELATION), page * PAGE, pseudoRandom(page, PAGE));
    await writeAt(ws.path('pg', RELATION), 96 * 1024 * 1024, pseudoRandom(42, PAGE));
    const second = await backupTree(ws.archive, ws.path('pg'));
    // 4 new pages (32 KiB) plus the page maps of 3 changed regions (~40 KiB each) and
    // the tree: far from the 96 MiB file.
    expect(second.stats.newBytesStored).toBeLessThan(250 * 1024);
    await restoreSnapshot(ws.archive, second.id, { target: ws.path('restored') });
    expect(await compareTrees(ws.path('pg'), ws.path('restored'))).toEqual([]);
  });

  it('delta restore rewrites only what differs and removes what the snapshot lacks', async () => {
    const latest = await backupTree(ws.archive, ws.path('pg'));
    expect(latest.stats.newBytesStored).toBeLessThan(64 * 1024);
    // Nothing changed since the last backup: not a byte read again.
    expect(latest.stats.bytesRead).toBe(0);
    // Damage the restored copy: two pages, a small file, extras, a missing file, and
    // a directory where the snapshot has a file.
    await writeAt(ws.path('restored', RELATION), 7 * PAGE + 100, Buffer.from('scribble'));
    await writeAt(ws.path('restored', RELATION), 9000 * PAGE, Buffer.alloc(PAGE, 1));
    await writeFile(ws.path('restored', 'PG_VERSION'), '16\n');
    await writeFile(ws.path('restored', 'extra-file'), 'not in the snapshot');
    await mkdir(ws.path('restored', 'extra-dir', 'deeper'), { recursive: true });
    await writeFile(ws.path('restored', 'extra-dir', 'deeper', 'x'), 'x');
    await rm(ws.path('restored', 'base/16384/16385_fsm'));
    await rm(ws.path('restored', 'global', 'pg_control'));
    await mkdir(ws.path('restored', 'global', 'pg_control'));

    const result = await restoreSnapshot(ws.archive, latest.id, { target: ws.path('restored'), delta: true });
    expect(await compareTrees(ws.path('pg'), ws.path('restored'))).toEqual([]);
    expect(result.removed).toBe(3);
    // The two superblocks (16 pages each) holding the damaged pages, PG_VERSION, the
    // fsm file and pg_control: nothing else rewritten.
    expect(result.bytesWritten).toBe(2 * 16 * PAGE + 3 + 3 * PAGE + 8192);
    expect(result.bytesKept).toBeGreaterThan(95 * 1024 * 1024);

    // A second delta restore over an identical tree writes nothing.
    const again = await restoreSnapshot(ws.archive, latest.id, { target: ws.path('restored'), delta: true });
    expect(again.bytesWritten).toBe(0);
    expect(again.removed).toBe(0);
    expect(await readdir(ws.path('restored'))).toContain('base');
  });
});

describe('names that are not UTF-8', () => {
  it('are stored as their bytes and restored exactly; an extra one is removed by delta restore', async () => {
    const ws = await newWorkspace('odd-names');
    try {
      await mkdir(ws.path('src', 'dir'), { recursive: true });
      await writeFile(ws.path('src', 'dir', 'ok.txt'), 'fine');
      const odd = Buffer.from([...Buffer.from('bad-'), 0xff, 0xfe]);
      await writeFile(Buffer.concat([Buffer.from(`${ws.path('src', 'dir')}/`), odd]), 'latin-1 name');
      const warnings: string[] = [];
      const snapshot = await backupTree(ws.archive, ws.path('src'), { onWarning: (m) => warnings.push(m) });
      expect(snapshot.stats.skipped).toBe(0);
      expect(warnings).toEqual([]);

      await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('out') });
      const names = async () =>
        (await readdir(ws.path('out', 'dir'), { encoding: 'buffer' })).map((n) => n.toString('hex'));
      expect((await names()).sort()).toEqual(
        [odd.toString('hex'), Buffer.from('ok.txt').toString('hex')].sort(),
      );
      expect(await readFile(Buffer.concat([Buffer.from(`${ws.path('out', 'dir')}/`), odd]), 'utf8')).toBe(
        'latin-1 name',
      );
      await writeFile(
        Buffer.concat([Buffer.from(`${ws.path('out', 'dir')}/x-`), Buffer.from([0xc3])]),
        'extra',
      );
      const delta = await restoreSnapshot(ws.archive, snapshot.id, { target: ws.path('out'), delta: true });
      expect(delta.removed).toBe(1);
      expect((await names()).sort()).toEqual(
        [odd.toString('hex'), Buffer.from('ok.txt').toString('hex')].sort(),
      );
    } finally {
      await ws.remove();
    }
  });
});
