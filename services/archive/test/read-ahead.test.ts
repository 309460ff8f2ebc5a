import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backupTree,
  forgetSnapshots,
  listSnapshots,
  openArchive,
  pruneArchive,
  verifyArchive,
} from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

/**
 * What one process reads once and keeps (index objects read ahead while an export
 * runs, snapshots opened once) never hides what another process changed since: both
 * are named by the hash of their bytes, and every reader lists the names again.
 */
describe('reading ahead and reusing what was read', () => {
  let workspace: Workspace;
  afterEach(() => workspace?.remove());

  /** The one tree, holding `content` now: its snapshots form one history. */
  async function treeWith(content: string): Promise<string> {
    const dir = workspace.path('tree');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'file'), content.repeat(5000));
    return dir;
  }

  it('an index read ahead takes the index objects another writer added, and drops those a prune removed', async () => {
    workspace = await newWorkspace('read-ahead-index');
    await backupTree(workspace.archive, await treeWith('first '));
    const reader = await openArchive({ archive: workspace.backend, keyFile: workspace.keyFile });
    reader.prefetchIndexes();
    // Another process backs up a second tree, then forgets the first and prunes.
    const other = await openArchive({ archive: workspace.backend, keyFile: workspace.keyFile });
    await backupTree(other, await treeWith('second '));
    await forgetSnapshots(other, { policy: { keepLast: 1 } });
    await pruneArchive(other);
    const names = async (archive: typeof reader) =>
      (await archive.readIndexes()).live.map((i) => i.name).sort();
    const fresh = await openArchive({ archive: workspace.backend, keyFile: workspace.keyFile });
    expect(await names(reader)).toEqual(await names(fresh));
    expect((await reader.readIndexes()).damaged).toEqual([]);
  });

  it('a snapshot opened once is reused by listings, but a forgotten one leaves them, and verify reads the bytes again', async () => {
    workspace = await newWorkspace('reuse-snapshots');
    const a = await backupTree(workspace.archive, await treeWith('first '));
    const b = await backupTree(workspace.archive, await treeWith('second '));
    const reader = await openArchive({ archive: workspace.backend, keyFile: workspace.keyFile });
    expect((await listSnapshots(reader)).map((s) => s.id)).toEqual([a.id, b.id]);
    const other = await openArchive({ archive: workspace.backend, keyFile: workspace.keyFile });
    await forgetSnapshots(other, { policy: { keepLast: 1 } });
    expect((await listSnapshots(reader)).map((s) => s.id)).toEqual([b.id]);
    // A byte flipped in b's manifest after the reader opened it: verify says so.
    const path = join(workspace.archiveDir, 'snapshots', b.id);
    const bytes = await readFile(path);
    bytes[bytes.length - 5]! ^= 0x40;
    await writeFile(path, bytes);
    const report = await verifyArchive(reader);
    expect(report.problems.map((p) => p.message)).toContain(
      `snapshot ${b.id.slice(0, 12)} fails authentication`,
    );
  });
});
