import { link, lstat, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  backupTree,
  comparePaths,
  isArchiveError,
  listSnapshots,
  type Progress,
  restoreSnapshot,
  type Snapshot,
  SnapshotFiles,
  type SourceEntry,
  type TreeEntry,
} from '../src/index.js';
import { dirStats, newWorkspace, onDisk, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

// Real archive work (worker threads) on a shared 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

/** `PROPERTY_SEED` and `PROPERTY_PATH` replay a failure; `PROPERTY_RUNS` sets the cases (default 20). */
const SEED = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);
const PATH = process.env.PROPERTY_PATH;
const RUNS = Number(process.env.PROPERTY_RUNS ?? 20);

/** What HeldEntries keeps in memory before it spills to a file (src/backup/held-entries.ts). */
const HELD_MEMORY_BYTES = 4 * 1024 * 1024;

async function treeOf(ws: Workspace, snapshot: Snapshot): Promise<TreeEntry[]> {
  const files = await SnapshotFiles.open(ws.archive, snapshot);
  const entries: TreeEntry[] = [];
  for await (const entry of files.entries()) entries.push(entry);
  return entries;
}

async function bytesOf(
  ws: Workspace,
  snapshot: Snapshot,
  paths: readonly string[],
): Promise<Map<string, Buffer>> {
  const files = await SnapshotFiles.open(ws.archive, snapshot);
  const wanted = new Set(paths);
  const out = new Map<string, Buffer>();
  for await (const entry of files.entries()) {
    if (!wanted.has(entry.path)) continue;
    const parts: Buffer[] = [];
    for await (const part of files.content(entry)) parts.push(part);
    out.set(entry.path, Buffer.concat(parts));
  }
  return out;
}

/** Every entry under `root` (relative path → its bytes, or 'dir'), symlinks never followed. */
async function restoredTree(root: string): Promise<Map<string, Buffer | 'dir'>> {
  const out = new Map<string, Buffer | 'dir'>();
  const visit = async (relative: string): Promise<void> => {
    const absolute = relative === '' ? root : join(root, relative);
    const stats = await lstat(absolute);
    if (!stats.isDirectory()) {
      out.set(relative, await readFile(absolute));
      return;
    }
    out.set(relative, 'dir');
    for (const name of await readdir(absolute)) await visit(relative === '' ? name : `${relative}/${name}`);
  };
  await visit('');
  return out;
}

interface EntrySpec {
  readonly path: string;
  readonly type: 'dir' | 'file';
  /** Given by `late` rather than by `source`. */
  readonly late: boolean;
  readonly content: Buffer;
  /** Where it comes in the (shuffled) late list. */
  readonly order: number;
}

/** Names that sort in ways a plain string sort of whole paths gets wrong ("a" < "a/b" < "a b"). */
const NAMES = ['a', 'b', 'a b', 'a.b', 'a-b', 'B', 'ab', 'é'];

const contentArb = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)) },
  // Past smallFileMax now and then: cut by content rather than bundled.
  {
    weight: 1,
    arbitrary: fc
      .record({ seed: fc.nat(), size: fc.integer({ min: 64 * 1024, max: 200_000 }) })
      .map(({ seed, size }) => pseudoRandom(seed + 1, size)),
  },
);

/**
 * A tree of distinct paths (every prefix of a path a directory), its leaves files or
 * empty directories. Only a leaf can be late: its parent, a directory with a child, is
 * then always among the source's (or is the root).
 */
const treeCase: fc.Arbitrary<{ readonly workers: number; readonly entries: readonly EntrySpec[] }> = fc
  .record({
    leaves: fc.uniqueArray(
      fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')),
      { minLength: 1, maxLength: 18 },
    ),
    workers: fc.constantFrom(0, 1),
  })
  .chain(({ leaves, workers }) => {
    const all = new Set<string>();
    for (const leaf of leaves) {
      const parts = leaf.split('/');
      for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join('/'));
    }
    const paths = [...all].sort(comparePaths);
    const hasChild = (path: string) => paths.some((other) => other.startsWith(`${path}/`));
    return fc.record({
      workers: fc.constant(workers),
      entries: fc.tuple(
        ...paths.map((path) =>
          fc.record({
            path: fc.constant(path),
            type: hasChild(path)
              ? fc.constant('dir' as const)
              : fc.constantFrom('file' as const, 'dir' as const),
            late: hasChild(path) ? fc.constant(false) : fc.boolean(),
            content: contentArb,
            order: fc.nat(),
          }),
        ),
      ),
    });
  });

describe('late entries: read once the source is, merged into the tree in order', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('late-entries');
  });
  afterAll(() => ws?.remove());

  it('property: the tree lists every source and late entry in tree order, and restores every file', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(treeCase, async ({ workers, entries }) => {
        run++;
        const root = ws.path(`case-${run}`, 'src');
        await mkdir(root, { recursive: true });
        for (const spec of entries) {
          if (spec.type === 'dir') await mkdir(join(root, spec.path));
          else await writeFile(join(root, spec.path), spec.content);
        }
        const sourceSpecs = entries.filter((spec) => !spec.late);
        const lateSpecs = entries.filter((spec) => spec.late).sort((a, b) => a.order - b.order);
        let lateCalls = 0;
        const warnings: string[] = [];
        const snapshot = await backupTree(ws.archive, root, {
          parent: null,
          workers,
          onWarning: (message) => warnings.push(message),
          source: async function* () {
            yield await onDisk(root, '');
            for (const spec of sourceSpecs) yield await onDisk(root, spec.path);
          },
          late: async () => {
            lateCalls++;
            return { entries: await Promise.all(lateSpecs.map((spec) => onDisk(root, spec.path))) };
          },
        });
        expect(lateCalls).toBe(1);
        expect(warnings).toEqual([]);
        const files = entries.filter((spec) => spec.type === 'file');
        expect(snapshot.stats.files).toBe(files.length);
        expect(snapshot.stats.dirs).toBe(entries.length - files.length + 1);

        const tree = await treeOf(ws, snapshot);
        expect(tree.map((entry) => [entry.path, entry.type])).toEqual([
          ['', 'dir'],
          ...entries.map((spec) => [spec.path, spec.type]),
        ]);
        for (const entry of tree) {
          if (entry.type === 'file')
            expect(entry.size).toBe(entries.find((s) => s.path === entry.path)!.content.length);
        }

        const target = ws.path(`case-${run}`, 'restored');
        await restoreSnapshot(ws.archive, snapshot.id, { target, workers });
        const restored = await restoredTree(target);
        expect([...restored.keys()].sort(comparePaths)).toEqual(['', ...entries.map((spec) => spec.path)]);
        for (const spec of entries) {
          const restoredAs = restored.get(spec.path);
          if (spec.type === 'dir') expect(restoredAs, spec.path).toBe('dir');
          else expect(Buffer.isBuffer(restoredAs) && restoredAs.equals(spec.content), spec.path).toBe(true);
        }
        await rm(ws.path(`case-${run}`), { recursive: true, force: true });
      }),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH === undefined ? {} : { path: PATH }),
      },
    );
  });

  it.each([
    ['worker threads', undefined],
    ['no workers', 0],
  ] as const)('calls late only once every source file was read (%s)', async (_what, workers) => {
    const root = ws.path(`read-first-${workers ?? 'threads'}`);
    const contents = new Map<string, Buffer>([
      ['base/5/16384', pseudoRandom(11, 25 * 8192)],
      ['data/big', pseudoRandom(12, 300_000)],
      ...Array.from({ length: 5 }, (_, i) => [`data/small-${i}`, pseudoRandom(20 + i, 1000 + i)] as const),
    ]);
    for (const dir of ['base', 'base/5', 'data']) await mkdir(join(root, dir), { recursive: true });
    for (const [path, bytes] of contents) await writeFile(join(root, path), bytes);
    const late = pseudoRandom(40, 500);
    await writeFile(join(root, 'late'), late);
    const sourcePaths = ['', 'base', 'base/5', 'base/5/16384', 'data', 'data/big'];
    for (let i = 0; i < 5; i++) sourcePaths.push(`data/small-${i}`);
    const warnings: string[] = [];
    const reports: Progress[] = [];
    let removed = 0;
    const snapshot = await backupTree(ws.archive, root, {
      parent: null,
      ...(workers === undefined ? {} : { workers }),
      onWarning: (message) => warnings.push(message),
      onProgress: (report) => reports.push(report),
      source: async function* () {
        for (const path of sourcePaths) yield await onDisk(root, path);
      },
      // The source's files are gone from here on: had any not been read yet, it would
      // be missing from the snapshot (and warned of).
      late: async () => {
        for (const path of contents.keys()) {
          await rm(join(root, path));
          removed++;
        }
        return { entries: [await onDisk(root, 'late')] };
      },
    });
    expect(removed).toBe(contents.size);
    expect(warnings).toEqual([]);
    // The late file is in the total too: never past 100%, and 100% at the end.
    for (const report of reports) expect(report.bytesDone).toBeLessThanOrEqual(report.bytesTotal!);
    const total = [...contents.values()].reduce((sum, bytes) => sum + bytes.length, late.length);
    expect(reports.at(-1)).toMatchObject({
      bytesDone: total,
      bytesTotal: total,
      filesTotal: contents.size + 1,
    });
    expect(snapshot.stats.skipped).toBe(0);
    expect(snapshot.stats.files).toBe(contents.size + 1);
    const stored = await bytesOf(ws, snapshot, [...contents.keys(), 'late']);
    for (const [path, bytes] of [...contents, ['late', late] as const]) {
      expect(stored.get(path)?.equals(bytes), `bytes of ${path}`).toBe(true);
    }
  });

  it('spills over 4 MiB of held entries to a temp file, merges late entries among them, and removes the file', async () => {
    const spillRoot = ws.path('tmp');
    await mkdir(spillRoot);
    const root = ws.path('spill');
    await mkdir(join(root, 'files'), { recursive: true });
    // Directories need nothing on disk: 30 000 of them, names of 240 bytes, make about
    // 10 MiB of held JSON lines (two spills, and a tail still in memory).
    const count = 30_000;
    const name = (i: number) => `n${String(i).padStart(6, '0')}${'x'.repeat(233)}`;
    const sourcePaths = ['', 'big', ...Array.from({ length: count }, (_, i) => `big/${name(i)}`)];
    const lateFiles = new Map<string, Buffer>();
    const lates: { path: string; type: 'dir' | 'file'; file: string }[] = [];
    const addLate = (path: string, type: 'dir' | 'file', size = 0) => {
      const file = join(root, 'files', `late-${lates.length}`);
      lates.push({ path, type, file });
      if (type === 'file') lateFiles.set(path, pseudoRandom(lates.length, size));
    };
    addLate('aaa', 'file', 100); // before every source entry but the root
    addLate('big/m-first', 'file', 200); // the first in big
    for (const i of [0, 7, 9_999, 12_345, 20_000, count - 1]) addLate(`big/${name(i)}-late`, 'file', 300 + i);
    for (const i of [1, 15_000]) addLate(`big/${name(i)}/inner`, 'file', 70_000 + i);
    addLate(`big/${name(25_000)}/late-dir`, 'dir');
    addLate(`big/${name(25_000)}/late-dir/file`, 'file', 400);
    addLate('zzz', 'file', 500); // after everything
    for (const { path, file } of lates) {
      const bytes = lateFiles.get(path);
      if (bytes !== undefined) await writeFile(file, bytes);
    }
    const lateEntries = async (): Promise<SourceEntry[]> =>
      // Given out of order: the backup sorts them.
      (
        await Promise.all(
          lates.map(async ({ path, type, file }) =>
            type === 'dir'
              ? { path, absolute: root, stats: dirStats() }
              : { path, absolute: file, stats: await lstat(file, { bigint: true }) },
          ),
        )
      ).reverse();
    const source = async function* (): AsyncGenerator<SourceEntry> {
      for (const path of sourcePaths) yield { path, absolute: root, stats: dirStats() };
    };

    const spills = () => readdir(spillRoot);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = spillRoot;
    try {
      let duringLate: { names: string[]; bytes: number } | undefined;
      const snapshot = await backupTree(ws.archive, root, {
        parent: null,
        source,
        late: async () => {
          const names = await spills();
          const bytes = names.length === 1 ? (await stat(join(spillRoot, names[0]!, 'entries'))).size : 0;
          duringLate = { names, bytes };
          return { entries: await lateEntries() };
        },
      });
      // Held entries were on disk when late was called, and are gone now.
      expect(duringLate?.names).toEqual([expect.stringMatching(/^pullback-tree-/)]);
      expect(duringLate!.bytes).toBeGreaterThanOrEqual(HELD_MEMORY_BYTES);
      expect(await spills()).toEqual([]);

      const expected = [...sourcePaths, ...lates.map((l) => l.path)].sort(comparePaths);
      const tree = await treeOf(ws, snapshot);
      const paths = tree.map((entry) => entry.path);
      expect(paths.length).toBe(expected.length);
      const firstDifference = paths.findIndex((path, i) => path !== expected[i]);
      expect(firstDifference, `first difference: ${paths[firstDifference]}`).toBe(-1);
      const types = new Map(tree.map((entry) => [entry.path, entry.type]));
      for (const { path, type } of lates) expect(types.get(path), path).toBe(type);
      const stored = await bytesOf(ws, snapshot, [...lateFiles.keys()]);
      for (const [path, bytes] of lateFiles)
        expect(stored.get(path)?.equals(bytes), `bytes of ${path}`).toBe(true);

      // A backup that fails after spilling leaves no file behind either, and no snapshot.
      const committed = (await listSnapshots(ws.archive)).length;
      let spilledBeforeFailure: string[] = [];
      await expect(
        backupTree(ws.archive, root, {
          parent: null,
          source,
          late: async () => {
            spilledBeforeFailure = await spills();
            return { entries: [{ path: `big/${name(5)}`, absolute: root, stats: dirStats() }] };
          },
        }),
      ).rejects.toThrow(JSON.stringify(`big/${name(5)}`));
      expect(spilledBeforeFailure).toEqual([expect.stringMatching(/^pullback-tree-/)]);
      expect(await spills()).toEqual([]);
      expect(await listSnapshots(ws.archive)).toHaveLength(committed);
      // Nor a handle on the removed file, which would keep its space until the process exits.
      const open: string[] = [];
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.includes('pullback-tree-')) open.push(target);
      }
      expect(open).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('adds the tags late gives to the snapshot, over those given first', async () => {
    const root = ws.path('tags');
    await mkdir(root);
    await writeFile(join(root, 'label'), 'START WAL LOCATION: 0/2000028');
    const snapshot = await backupTree(ws.archive, root, {
      parent: null,
      tags: { component: 'db', state: 'partial' },
      source: async function* () {
        yield await onDisk(root, '');
      },
      late: async () => ({
        entries: [await onDisk(root, 'label')],
        tags: { state: 'complete', stop: '0/3000100' },
      }),
    });
    const tags = { component: 'db', state: 'complete', stop: '0/3000100' };
    expect(snapshot.tags).toEqual(tags);
    const reopened = await ws.reopen();
    const listed = (await listSnapshots(reopened)).find((s) => s.id === snapshot.id);
    expect(listed?.tags).toEqual(tags);
    expect((await treeOf(ws, snapshot)).map((entry) => entry.path)).toEqual(['', 'label']);
  });
});

describe('late entries the tree cannot take fail the backup, and commit nothing', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('late-refused');
    await mkdir(ws.path('src', 'd'), { recursive: true });
    await writeFile(ws.path('src', 'f'), 'a source file');
    await writeFile(ws.path('src', 'other'), 'a file given late');
  });
  afterAll(() => ws?.remove());

  const source = () =>
    async function* (): AsyncGenerator<SourceEntry> {
      for (const path of ['', 'd', 'f']) yield await onDisk(ws.path('src'), path);
    };
  /** The file `other` on disk, given as `path`. */
  const lateFile = async (path: string): Promise<SourceEntry> => ({
    ...(await onDisk(ws.path('src'), 'other')),
    path,
  });

  it.each([
    ['a file the source gave too', ['f'], undefined, /"f"/],
    ['a directory the source gave too', ['d'], undefined, /"d"/],
    ['the same path twice', ['d/x', 'd/x'], 'tree out of order', /"d\/x"/],
    ['a file in a directory no entry gives', ['none/x'], 'parent directory missing', /"none\/x"/],
    ['a file in a file', ['f/x'], 'parent directory missing', /"f\/x"/],
  ] as const)('refuses %s', async (_what, paths, why, message) => {
    const error = await backupTree(ws.archive, ws.path('src'), {
      parent: null,
      source: source(),
      late: async () => ({
        entries: await Promise.all(
          paths.map((path) => (path === 'd' ? onDisk(ws.path('src'), 'd') : lateFile(path))),
        ),
        tags: { late: 'yes' },
      }),
    }).then(
      () => new Error('committed'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    if (why !== undefined) {
      expect(isArchiveError(error, 'unsafe-path')).toBe(true);
      expect((error as Error).message).toBe(
        `cannot back up ${JSON.stringify(paths.at(-1))} of ${ws.path('src')}: ${why}`,
      );
    }
    expect(await listSnapshots(ws.archive)).toEqual([]);
  });

  it('still backs up the same entries given once', async () => {
    const snapshot = await backupTree(ws.archive, ws.path('src'), {
      parent: null,
      source: source(),
      late: async () => ({ entries: [await lateFile('d/x')] }),
    });
    expect((await treeOf(ws, snapshot)).map((entry) => entry.path)).toEqual(['', 'd', 'd/x', 'f']);
    expect((await listSnapshots(ws.archive)).map((s) => s.id)).toEqual([snapshot.id]);
  });

  it('stores a late file linked to a source file that sorts after it as a file of its own', async () => {
    const linked = await newWorkspace('late-hardlink');
    try {
      await mkdir(linked.path('src'), { recursive: true });
      await writeFile(linked.path('src', 'z'), 'one inode, two names');
      await link(linked.path('src', 'z'), linked.path('src', 'a'));
      const snapshot = await backupTree(linked.archive, linked.path('src'), {
        parent: null,
        source: async function* () {
          for (const path of ['', 'z']) yield await onDisk(linked.path('src'), path);
        },
        late: async () => ({ entries: [await onDisk(linked.path('src'), 'a')] }),
      });
      const tree = await treeOf(linked, snapshot);
      expect(tree.map((entry) => [entry.path, entry.type])).toEqual([
        ['', 'dir'],
        ['a', 'file'],
        ['z', 'file'],
      ]);
      const stored = await bytesOf(linked, snapshot, ['a', 'z']);
      expect(stored.get('a')?.toString()).toBe('one inode, two names');
      expect(stored.get('z')?.toString()).toBe('one inode, two names');
    } finally {
      await linked.remove();
    }
  });
});
