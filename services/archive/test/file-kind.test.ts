import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isStoredByPages, relationSegment } from '../src/chunking/file-kind.js';
import { backupTree, SnapshotFiles } from '../src/index.js';
import { newWorkspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

describe('which files are stored by pages', () => {
  it('relation segments and WAL segments, at any depth; nothing else', () => {
    for (const path of [
      'base/5/16384',
      'base/5/16384.3',
      'base/5/16384_fsm',
      'global/1262',
      'pg_tblspc/16400/PG_15_202209061/5/16401',
      'pg_wal/000000010000000500000001',
      'data/pg_wal/00000002000000000000000A',
    ]) {
      expect(isStoredByPages(path), path).toBe(true);
    }
    for (const path of [
      'pg_wal/00000002.history',
      'pg_wal/000000010000000500000001.partial',
      'pg_wal/000000010000000500000001.00000028.backup',
      'pg_wal/archive_status/000000010000000500000001.done',
      'pg_xact/0000',
      'base/5/PG_VERSION',
      'postgresql.conf',
    ]) {
      expect(isStoredByPages(path), path).toBe(false);
    }
    expect(relationSegment('base/5/16384.3')).toBe(3);
    // A WAL segment is no relation: its pages are never checked against data checksums.
    expect(relationSegment('pg_wal/000000010000000500000001')).toBeUndefined();
  });

  it('stores a WAL segment as pages, and one that was recycled finds its old superblocks', async () => {
    const ws = await newWorkspace('file-kind-wal');
    try {
      const segment = pseudoRandom(1, 16 * 1024 * 1024);
      await mkdir(ws.path('src', 'pg_wal'), { recursive: true });
      await writeFile(ws.path('src', 'pg_wal', '000000010000000000000001'), segment);
      await backupTree(ws.archive, ws.path('src'), { workers: 0 });
      // Recycled under the next name, its first 100 KiB written anew: only the first superblock is new.
      await writeFile(ws.path('src', 'pg_wal', '000000010000000000000001'), '');
      pseudoRandom(2, 100 * 1024).copy(segment);
      await writeFile(ws.path('src', 'pg_wal', '000000010000000000000002'), segment);
      const second = await backupTree(ws.archive, ws.path('src'), { workers: 0 });
      const files = await SnapshotFiles.open(ws.archive, second);
      const kinds: Record<string, string[]> = {};
      for await (const entry of files.entries()) {
        if (entry.type === 'file' && entry.content) kinds[entry.path] = Object.keys(entry.content);
      }
      expect(kinds).toEqual({
        'pg_wal/000000010000000000000002': ['pages'],
      });
      expect(second.stats.newBytesStored).toBeLessThan(256 * 1024);
    } finally {
      await ws.remove();
    }
  });
});
