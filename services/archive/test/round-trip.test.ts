import { execFileSync } from 'node:child_process';
import { cp, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, listSnapshots, restoreSnapshot } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compareTrees } from './helpers/compare-trees.js';
import { compressible, makeMixedTree, pseudoRandom, writeLargeFile } from './helpers/make-tree.js';

describe('round trip on the fs driver', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace('roundtrip');
    await makeMixedTree(ws.path('src'));
    // A few large files: compressible text, incompressible noise, and one that is
    // mostly the same as another (content-defined chunks dedup across files).
    await writeLargeFile(ws.path('src', 'large', 'text.log'), 200 * 1024 * 1024, (i, n) =>
      compressible(i, n),
    );
    await writeLargeFile(ws.path('src', 'large', 'noise.bin'), 100 * 1024 * 1024, (i, n) =>
      pseudoRandom(i + 1, n),
    );
  });
  afterAll(async () => {
    await ws.remove();
  });

  it('restores a tree exactly: contents, modes, mtimes, symlinks, empty files and dirs, odd names', async () => {
    const progress: number[] = [];
    const snapshot = await backupTree(ws.archive, ws.path('src'), {
      tags: { component: 'files-test' },
      onProgress: (p) => progress.push(p.bytesDone),
    });
    expect(snapshot.stats.files).toBeGreaterThan(1500);
    expect(snapshot.stats.logicalBytes).toBeGreaterThan(300 * 1024 * 1024);
    // Compressible text shrinks; the whole archive is smaller than the data.
    expect(snapshot.stats.newBytesStored).toBeLessThan(snapshot.stats.logicalBytes * 0.8);
    expect(progress.at(-1)).toBe(snapshot.stats.logicalBytes);

    const reopened = await ws.reopen();
    const listed = await listSnapshots(reopened, { component: 'files-test' });
    expect(listed.map((s) => s.id)).toEqual([snapshot.id]);

    const result = await restoreSnapshot(reopened, snapshot.id.slice(0, 10), { target: ws.path('out1') });
    expect(result.bytesWritten).toBe(snapshot.stats.logicalBytes);
    expect(await compareTrees(ws.path('src'), ws.path('out1'))).toEqual([]);
    await rm(ws.path('out1'), { recursive: true, force: true });
  });

  it('keeps snapshot N restorable after N+1, and N+1 stores only what changed', async () => {
    const first = (await listSnapshots(ws.archive)).at(-1)!;
    // cp -a keeps nanosecond mtimes (fs.cp rounds them to milliseconds).
    execFileSync('cp', ['-a', ws.path('src', 'd0'), ws.path('copy-d0')]);
    // Change, add and remove; rename a large file (its chunks are not stored again).
    await writeFile(ws.path('src', 'd0', 'e0', 'f0.txt'), 'changed content');
    await writeFile(ws.path('src', 'added.txt'), 'new file');
    await unlink(ws.path('src', 'd1', 'e1', 'f1.txt'));
    await mkdir(ws.path('src', 'large2'));
    await cp(ws.path('src', 'large', 'noise.bin'), ws.path('src', 'large2', 'noise-copy.bin'));
    const second = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'files-test' } });
    expect(second.parent).toBe(first.id);
    // Unchanged files are not even read (size, mtime and ctime match the parent).
    expect(second.stats.bytesRead).toBeLessThan(110 * 1024 * 1024);
    expect(second.stats.newBytesStored).toBeLessThan(2 * 1024 * 1024);

    await restoreSnapshot(ws.archive, second.id, { target: ws.path('out2') });
    expect(await compareTrees(ws.path('src'), ws.path('out2'))).toEqual([]);

    await restoreSnapshot(ws.archive, first.id, { target: ws.path('out3') });
    expect(await compareTrees(ws.path('copy-d0'), ws.path('out3', 'd0'))).toEqual([]);
    expect(await compareTrees(ws.path('src', 'large'), ws.path('out3', 'large'))).toEqual([]);
    await rm(ws.path('out2'), { recursive: true, force: true });
    await rm(ws.path('out3'), { recursive: true, force: true });
  });
});
