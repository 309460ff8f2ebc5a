import fs from 'node:fs';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  backupTree,
  isRelationPath,
  PAGE_SIZE,
  PAGES_PER_SEGMENT,
  pageChecksum,
  pageIsSound,
  restoreSnapshot,
  SnapshotFiles,
  type SourceEntry,
} from '../src/index.js';
import type { ArchiveConfigOptions } from '../src/repository/config.js';
import { fileStats, newWorkspace, onDisk, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

// Real archive work (worker threads) on a shared 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

/** The backup's start: 2/1000. */
const START_LSN = 0x2_0000_1000n;
const OLD_LSN = 0x1_abcd_ef00n;

/**
 * A relation page as PostgreSQL writes it: pd_lsn (words 0 and 1, high half first),
 * pd_checksum (low half of word 2) right for `block`, pd_flags, pd_lower and a nonzero
 * pd_upper (word 3), then `seed`'s bytes.
 */
function page(block: number, seed: number, lsn = OLD_LSN): Buffer {
  const words = new Uint32Array(PAGE_SIZE / 4);
  const bytes = Buffer.from(words.buffer);
  pseudoRandom(seed, PAGE_SIZE).copy(bytes);
  bytes.writeUInt32LE(Number(lsn >> 32n), 0);
  bytes.writeUInt32LE(Number(lsn & 0xffff_ffffn), 4);
  bytes.writeUInt16LE(0x0004, 10); // pd_flags: PD_ALL_VISIBLE
  bytes.writeUInt16LE(0x0040, 12); // pd_lower
  bytes.writeUInt16LE(0x1f80, 14); // pd_upper
  bytes.writeUInt16LE(pageChecksum(words, block), 8);
  return bytes;
}

/**
 * Pages of garbage that would be reported if checked: an LSN older than the backup, a
 * nonzero pd_upper, and a checksum that cannot be right.
 */
function garbage(seed: number, pages: number): Buffer {
  const bytes = pseudoRandom(seed, pages * PAGE_SIZE);
  for (let index = 0; index < pages; index++) {
    const at = index * PAGE_SIZE;
    bytes.writeUInt32LE(Number(OLD_LSN >> 32n), at);
    bytes.writeUInt32LE(Number(OLD_LSN & 0xffff_ffffn), at + 4);
    bytes.writeUInt16LE(0x1f80, at + 14);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + at, PAGE_SIZE / 4);
    bytes.writeUInt16LE(pageChecksum(words, index) ^ 0x5a5a, at + 8);
  }
  return bytes;
}

/** One byte of the page's body changed after its checksum was set. */
function damaged(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[4000] = copy[4000]! ^ 0x20;
  return copy;
}

interface PagePlan {
  /** Pages that are all zeros (never initialised). */
  readonly zero?: readonly number[];
  /** Pages changed after their checksum was set, older than the backup. */
  readonly corrupt?: readonly number[];
  /** Pages changed after their checksum was set, whose LSN is the backup's start or later. */
  readonly torn?: readonly number[];
}

/** A relation segment's bytes: `count` pages, the first block `segment * PAGES_PER_SEGMENT`. */
function relation(segment: number, count: number, plan: PagePlan = {}): Buffer {
  const first = segment * PAGES_PER_SEGMENT;
  return Buffer.concat(
    Array.from({ length: count }, (_, index) => {
      const block = first + index;
      if (plan.zero?.includes(index)) return Buffer.alloc(PAGE_SIZE);
      if (plan.corrupt?.includes(index)) return damaged(page(block, block + 1));
      if (plan.torn?.includes(index)) {
        // One at the start LSN exactly, the others past it.
        const lsn = index % 2 === 0 ? START_LSN : START_LSN + 0x5000n;
        return damaged(page(block, block + 1, lsn));
      }
      return page(block, block + 1);
    }),
  );
}

/**
 * Relation files small (bundled, under smallFileMax) and large (read by pages), later
 * segments (block numbers from 131072 on), forks, new pages, pages wrong but written
 * since the backup started, and files that are no relation's, full of garbage.
 */
const FILES: Readonly<Record<string, Buffer>> = {
  'base/5/16384': relation(0, 40, { zero: [5], corrupt: [17, 35], torn: [30, 31] }),
  'base/5/16384.1': relation(1, 20, { zero: [0], corrupt: [3] }),
  'base/5/16385': relation(0, 3, { corrupt: [1], torn: [2] }),
  'base/5/16385.2': relation(2, 2, { corrupt: [0] }),
  'base/5/16386_fsm': relation(0, 3, { zero: [1], corrupt: [2] }),
  'global/1262': relation(0, 3, { zero: [2], torn: [0] }),
  'base/5/16387_vm.1': relation(1, 9, { torn: [8] }),
  'pg_xact/0000': garbage(901, 3),
  'base/5/PG_VERSION': garbage(902, 2),
  'base/5/t3_16390': garbage(903, 3),
  'base/5/pg_internal.init': garbage(904, 12),
};

/** What onCorrupt must be told, and only that. */
const EXPECTED: readonly string[] = [
  'base/5/16384 17',
  'base/5/16384 35',
  `base/5/16384.1 ${PAGES_PER_SEGMENT + 3}`,
  'base/5/16385 1',
  `base/5/16385.2 ${2 * PAGES_PER_SEGMENT}`,
  'base/5/16386_fsm 2',
];

/** Small superblocks and regions: the 40-page file crosses windows and regions (page 17 and 35). */
const SMALL_LAYOUT: ArchiveConfigOptions = {
  pageLayout: { pageSize: PAGE_SIZE, superblockPages: 2, regionPages: 32 },
};

async function writeTree(root: string, files: Readonly<Record<string, Buffer>>): Promise<void> {
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), bytes);
  }
}

describe('the pages built here', () => {
  it('are sound as built, and unsound (when older than the start) with a byte changed', () => {
    for (const block of [0, 1, 17, PAGES_PER_SEGMENT + 3]) {
      const bytes = page(block, block + 1);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, PAGE_SIZE / 4);
      expect(pageIsSound(words, block, START_LSN)).toBe(true);
      // The sum covers the block number: the same page elsewhere is wrong.
      expect(pageIsSound(words, block + 1, START_LSN)).toBe(false);
      const bad = damaged(bytes);
      expect(pageIsSound(new Uint32Array(bad.buffer, bad.byteOffset, PAGE_SIZE / 4), block, START_LSN)).toBe(
        false,
      );
    }
    for (const path of [
      'base/5/16384',
      'base/5/16384.1',
      'base/5/16386_fsm',
      'global/1262',
      'base/5/16387_vm.1',
    ]) {
      expect(isRelationPath(path), path).toBe(true);
    }
    for (const path of ['pg_xact/0000', 'base/5/PG_VERSION', 'base/5/t3_16390', 'base/5/pg_internal.init']) {
      expect(isRelationPath(path), path).toBe(false);
    }
  });
});

describe.each([
  ['worker threads, default page layout', undefined, {}],
  ['no workers, default page layout', 0, {}],
  ['worker threads, small superblocks and regions', 2, SMALL_LAYOUT],
  ['no workers, small superblocks and regions', 0, SMALL_LAYOUT],
] as const)('page checksums (%s)', (_what, workers, layout) => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('page-checks', undefined, layout);
    await writeTree(ws.path('src'), FILES);
  });
  afterAll(() => ws?.remove());

  const workerOption = workers === undefined ? {} : { workers };

  it('reports exactly the wrong pages older than the start, by block number, and stores every byte', async () => {
    const reported: string[] = [];
    const warnings: string[] = [];
    const snapshot = await backupTree(ws.archive, ws.path('src'), {
      parent: null,
      ...workerOption,
      onWarning: (message) => warnings.push(message),
      pageChecksums: {
        startLsn: START_LSN,
        onCorrupt: (path, block) => reported.push(`${path} ${block}`),
      },
    });
    expect(reported.sort()).toEqual([...EXPECTED].sort());
    expect(warnings).toEqual([]);
    expect(snapshot.stats.files).toBe(Object.keys(FILES).length);
    // A corrupt page is stored as it was read: the backup goes on.
    const target = ws.path('restored');
    await restoreSnapshot(ws.archive, snapshot.id, { target, ...workerOption });
    for (const [path, bytes] of Object.entries(FILES)) {
      expect((await readFile(join(target, path))).equals(bytes), `bytes of ${path}`).toBe(true);
    }
  });

  it('checks files given as a source, against the start LSN given', async () => {
    const root = ws.path('src');
    const paths = ['', 'base', 'base/5', 'base/5/16384', 'base/5/16385.2', 'pg_xact', 'pg_xact/0000'];
    const source = async function* (): AsyncGenerator<SourceEntry> {
      for (const path of paths) {
        const absolute = path === '' ? root : join(root, path);
        yield { path, absolute, stats: await lstat(absolute, { bigint: true }) };
      }
    };
    const reported: string[] = [];
    await backupTree(ws.archive, root, {
      parent: null,
      ...workerOption,
      source,
      pageChecksums: { startLsn: START_LSN, onCorrupt: (path, block) => reported.push(`${path} ${block}`) },
    });
    expect(reported.sort()).toEqual(
      ['base/5/16384 17', 'base/5/16384 35', `base/5/16385.2 ${2 * PAGES_PER_SEGMENT}`].sort(),
    );
    // A later start: the pages wrong but written since the first one are older than it.
    const later: string[] = [];
    await backupTree(ws.archive, root, {
      parent: null,
      ...workerOption,
      source,
      pageChecksums: {
        startLsn: START_LSN + 0x10000n,
        onCorrupt: (path, block) => later.push(`${path} ${block}`),
      },
    });
    expect(later.sort()).toEqual(
      [
        'base/5/16384 17',
        'base/5/16384 30',
        'base/5/16384 31',
        'base/5/16384 35',
        `base/5/16385.2 ${2 * PAGES_PER_SEGMENT}`,
      ].sort(),
    );
  });
});

/**
 * Makes the first read of page `index` of the file `absolute` on this thread come back
 * with a byte changed, as a read racing a write of the page would; later reads see the
 * file as it is. Returns how many reads were torn, and a way to stop.
 */
function tearFirstRead(absolute: string, index: number): { torn: () => number; stop: () => void } {
  const { openSync, read, readSync, readFileSync } = fs;
  const fds = new Set<number>();
  let torn = 0;
  const at = index * PAGE_SIZE + 4000;
  fs.openSync = ((path: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode | null) => {
    const fd = openSync(path, flags, mode);
    if (String(path) === absolute) fds.add(fd);
    return fd;
  }) as typeof fs.openSync;
  const tear = (fd: unknown, buffer: Buffer, position: number, n: number) => {
    if (torn === 0 && typeof fd === 'number' && fds.has(fd) && at >= position && at < position + n) {
      buffer[at - position]! ^= 0x20;
      torn++;
    }
  };
  fs.readSync = ((fd: number, buffer: Buffer, offset: number, length: number, position: number) => {
    const n = readSync(fd, buffer, offset, length, position);
    tear(fd, buffer.subarray(offset), position, n);
    return n;
  }) as typeof fs.readSync;
  // A file read by pages is read a window ahead, on libuv's pool.
  fs.read = ((
    fd: number,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (error: NodeJS.ErrnoException | null, bytesRead: number, buffer: Buffer) => void,
  ) =>
    read(fd, buffer, offset, length, position, (error, n, filled) => {
      if (error === null) tear(fd, buffer.subarray(offset), position, n);
      callback(error, n, filled);
    })) as unknown as typeof fs.read;
  // A small file of its own is read whole.
  fs.readFileSync = ((file: fs.PathOrFileDescriptor, ...rest: never[]) => {
    const bytes = readFileSync(file, ...rest) as Buffer;
    tear(file, bytes, 0, bytes.length);
    return bytes;
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  return {
    torn: () => torn,
    stop: () => {
      fs.openSync = openSync;
      fs.read = read;
      fs.readSync = readSync;
      fs.readFileSync = readFileSync;
      syncBuiltinESMExports();
    },
  };
}

describe('a page read torn once (no workers: the reads are on this thread)', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('page-reread');
    await writeTree(ws.path('src'), {
      'base/5/16400': relation(0, 3),
      'base/5/16401.1': relation(1, 40),
    });
  });
  afterAll(() => ws?.remove());

  it.each([
    ['a small file', 'base/5/16400', 2],
    ['a file read by pages', 'base/5/16401.1', 33],
  ] as const)(
    'is read again: %s is not reported, and stored as read the second time',
    async (_what, path, index) => {
      const tear = tearFirstRead(ws.path('src', path), index);
      const reported: string[] = [];
      let snapshot: Awaited<ReturnType<typeof backupTree>>;
      try {
        snapshot = await backupTree(ws.archive, ws.path('src'), {
          parent: null,
          workers: 0,
          pageChecksums: { startLsn: START_LSN, onCorrupt: (p, block) => reported.push(`${p} ${block}`) },
        });
      } finally {
        tear.stop();
      }
      expect(tear.torn()).toBe(1);
      expect(reported).toEqual([]);
      const target = ws.path(`restored-${index}`);
      await restoreSnapshot(ws.archive, snapshot.id, { target, workers: 0 });
      const expected = await readFile(ws.path('src', path));
      expect((await readFile(join(target, path))).equals(expected)).toBe(true);
    },
  );
});

describe('vanished files', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('vanished');
    await writeTree(ws.path('src'), { 'base/5/16384': relation(0, 3), kept: Buffer.from('still here') });
  });
  afterAll(() => ws?.remove());

  /** Status of a file of `size` bytes that is not (or no longer) on disk. */
  /** Gone before they were read: small, cut by content, read by pages. */
  const GONE: readonly [string, number][] = [
    ['base/5/16390', 3 * PAGE_SIZE],
    ['base/5/16391', 40 * PAGE_SIZE],
    ['gone-big', 300_000],
    ['gone-small', 10],
  ];
  const source = async function* (): AsyncGenerator<SourceEntry> {
    const root = ws.path('src');
    const gone = (path: string, size: number): SourceEntry => ({
      path,
      absolute: join(root, path),
      stats: fileStats(size),
    });
    for (const path of ['', 'base', 'base/5', 'base/5/16384']) yield await onDisk(root, path);
    for (const [path, size] of GONE.filter(([p]) => p.startsWith('base/'))) yield gone(path, size);
    for (const [path, size] of GONE.filter(([p]) => !p.startsWith('base/'))) yield gone(path, size);
    yield await onDisk(root, 'kept');
  };

  async function pathsOf(snapshot: Awaited<ReturnType<typeof backupTree>>): Promise<string[]> {
    const files = await SnapshotFiles.open(ws.archive, snapshot);
    const paths: string[] = [];
    for await (const entry of files.entries()) paths.push(entry.path);
    return paths;
  }

  it.each([
    ['worker threads', undefined],
    ['no workers', 0],
  ] as const)('with ignoreVanished are left out silently, not counted (%s)', async (_what, workers) => {
    const warnings: string[] = [];
    const reported: string[] = [];
    const snapshot = await backupTree(ws.archive, ws.path('src'), {
      parent: null,
      ...(workers === undefined ? {} : { workers }),
      ignoreVanished: true,
      onWarning: (message) => warnings.push(message),
      pageChecksums: { startLsn: START_LSN, onCorrupt: (path, block) => reported.push(`${path} ${block}`) },
      source,
    });
    expect(warnings).toEqual([]);
    expect(reported).toEqual([]);
    expect(snapshot.stats.skipped).toBe(0);
    expect(snapshot.stats.files).toBe(2);
    expect(await pathsOf(snapshot)).toEqual(['', 'base', 'base/5', 'base/5/16384', 'kept']);
  });

  it.each([
    ['worker threads', undefined],
    ['no workers', 0],
  ] as const)('without it are left out with a warning each, and counted (%s)', async (_what, workers) => {
    const warnings: string[] = [];
    const snapshot = await backupTree(ws.archive, ws.path('src'), {
      parent: null,
      ...(workers === undefined ? {} : { workers }),
      onWarning: (message) => warnings.push(message),
      source,
    });
    expect(warnings.sort()).toEqual(
      GONE.map(([path]) => `skipped ${JSON.stringify(path)}: cannot read the file (vanished)`).sort(),
    );
    expect(snapshot.stats.skipped).toBe(GONE.length);
    expect(await pathsOf(snapshot)).toEqual(['', 'base', 'base/5', 'base/5/16384', 'kept']);
  });
});

describe('changed pages read in place (`changedPages`)', () => {
  let ws: Workspace;
  const path = 'base/5/16384';
  beforeAll(async () => {
    ws = await newWorkspace('page-checks-in-place');
  });
  afterAll(() => ws?.remove());

  /**
   * The parent sound; then pages 3 (corrupt, older than the start), 7 (torn, written
   * since) and 9 (sound) given as changed, 20 corrupt but not given.
   */
  async function backups(workers: number, around?: () => () => void): Promise<string[]> {
    await writeTree(ws.path('src'), { [path]: relation(0, 40) });
    const parent = await backupTree(ws.archive, ws.path('src'), { parent: null, workers });
    await writeTree(ws.path('src'), { [path]: relation(0, 40, { corrupt: [3, 20], torn: [7] }) });
    const root = ws.path('src');
    const reported: string[] = [];
    const stop = around?.();
    try {
      await backupTree(ws.archive, root, {
        parent: parent.id,
        workers,
        force: true,
        pageChecksums: { startLsn: START_LSN, onCorrupt: (p, block) => reported.push(`${p} ${block}`) },
        source: async function* (): AsyncGenerator<SourceEntry> {
          for (const dir of ['', 'base', 'base/5']) yield await onDisk(root, dir);
          yield { ...(await onDisk(root, path)), changedPages: Uint32Array.from([3, 7, 9]) };
        },
      });
    } finally {
      stop?.();
    }
    return reported;
  }

  it.each([
    ['worker threads', 2],
    ['no workers', 0],
  ] as const)(
    'are checked: the corrupt one reported, not the torn one, not the unread one (%s)',
    async (_what, workers) => {
      expect(await backups(workers)).toEqual([`${path} 3`]);
    },
  );

  it('are read again when a read tears one (no workers: the reads are on this thread)', async () => {
    let tear: ReturnType<typeof tearFirstRead> | undefined;
    // Page 9 is sound: reported only if its torn first read were believed.
    const reported = await backups(0, () => {
      tear = tearFirstRead(ws.path('src', path), 9);
      return () => tear!.stop();
    });
    expect(tear!.torn()).toBe(1);
    expect(reported).toEqual([`${path} 3`]);
  });
});
