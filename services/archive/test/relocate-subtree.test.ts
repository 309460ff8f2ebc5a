import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, isArchiveError, restoreSnapshot } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { pseudoRandom, writeAt, writeLargeFile } from './helpers/make-tree.js';

const PAGE = 8192;
const TABLESPACE = 'pg_tblspc/16390';
const RELATION = 'PG_15_202209061/5/16391';

/** Restores with `relocate`: a subtree goes to a directory of its own, also in a delta. */
function relocationTests(open: () => Promise<Workspace>) {
  let ws: Workspace;
  let snapshot: string;
  beforeAll(async () => {
    ws = await open();
    await mkdir(ws.path('src', 'base'), { recursive: true });
    await writeFile(ws.path('src', 'PG_VERSION'), '15\n');
    await writeLargeFile(ws.path('src', TABLESPACE, RELATION), 40 * PAGE, (i, n) => pseudoRandom(i + 3, n));
    await writeFile(ws.path('src', TABLESPACE, 'PG_15_202209061', 'note'), 'in the tablespace');
    snapshot = (await backupTree(ws.archive, ws.path('src'))).id;
  }, 120_000);
  afterAll(async () => {
    await ws?.remove();
  });

  it('writes the subtree into its directory and leaves its place in the target empty', async () => {
    await restoreSnapshot(ws.archive, snapshot, {
      target: ws.path('target'),
      relocate: { [TABLESPACE]: ws.path('elsewhere', 'ts') },
    });
    expect(await compareTrees(ws.path('src', TABLESPACE), ws.path('elsewhere', 'ts'))).toEqual([]);
    expect(await readdir(ws.path('target', 'pg_tblspc'))).toEqual([]);
    expect(await readFile(ws.path('target', 'PG_VERSION'), 'utf8')).toBe('15\n');
  });

  it('refuses a relocation directory that is not empty, writing nothing', async () => {
    await mkdir(ws.path('busy'), { recursive: true });
    await writeFile(ws.path('busy', 'someone'), 'else');
    const error = await restoreSnapshot(ws.archive, snapshot, {
      target: ws.path('second'),
      relocate: { [TABLESPACE]: ws.path('busy') },
    }).catch((e: unknown) => e);
    expect(isArchiveError(error, 'target-not-empty')).toBe(true);
    expect((error as Error).message).toContain(ws.path('busy'));
    await expect(readdir(ws.path('second'))).rejects.toThrow(/ENOENT/);
  });

  it('delta: compares the subtree where it was relocated and removes what it lacks there', async () => {
    await writeAt(ws.path('elsewhere', 'ts', RELATION), 3 * PAGE, Buffer.alloc(PAGE, 9));
    await writeFile(ws.path('elsewhere', 'ts', 'extra'), 'not in the snapshot');
    // What the target has in the subtree's place (a caller's symlink) goes.
    await mkdir(ws.path('target', TABLESPACE));
    const result = await restoreSnapshot(ws.archive, snapshot, {
      target: ws.path('target'),
      delta: true,
      relocate: { [TABLESPACE]: ws.path('elsewhere', 'ts') },
    });
    expect(await compareTrees(ws.path('src', TABLESPACE), ws.path('elsewhere', 'ts'))).toEqual([]);
    expect(result.removed).toBe(2);
    // One superblock (16 pages) rewritten; the rest of the relation kept.
    expect(result.bytesWritten).toBe(16 * PAGE);
    expect(result.bytesKept).toBeGreaterThanOrEqual(24 * PAGE);
    expect(await readdir(ws.path('target', 'pg_tblspc'))).toEqual([]);
  });
}

describe('relocated subtrees on the fs driver', () => {
  relocationTests(() => newWorkspace('relocate'));
});

describe('relocated subtrees on the S3 driver', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['archive'] });
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
  });
  relocationTests(() =>
    newWorkspace(
      'relocate-s3',
      openBackend('s3://archive/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      }),
    ),
  );
});
