import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, forgetSnapshots, listWal } from '@pullback/archive';
import { describe, expect, it, vi } from 'vitest';
import { forgetWal, pullArtifact } from '../src/index.js';
import { sandbox } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';
import { archiveOn, serverSnapshot, storeWal } from './helpers/wal-archive.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

async function segmentsOf(archive: Archive, stream: string): Promise<number[]> {
  return (await listWal(archive, stream)).map((info) => Number.parseInt(info.name.slice(16), 16));
}

describe.each(['fs', 's3'] as const)('retention of wal on the %s driver', (driver) => {
  const on = archiveOn(driver, 'forget-wal', 'retention');

  it('keeps exactly the wal from the oldest kept snapshot on, per stream', async () => {
    await serverSnapshot(on.archive, on.source, 'db', '111', '0/200028');
    await serverSnapshot(on.archive, on.source, 'db', '111', '0/500000');
    await serverSnapshot(on.archive, on.source, 'db', '111', '0/8FF000');
    await storeWal(on.archive, 'db.111', [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A new server of the same component, no snapshot yet: its WAL is all kept.
    await storeWal(on.archive, 'db.222', [1, 2]);
    // Another component's stream is not this component's business.
    await storeWal(on.archive, 'other.111', [1, 2]);

    expect(await forgetWal(on.archive, { component: 'db' })).toEqual([
      { stream: 'db.111', keptFrom: { timeline: 1, lsn: '0/200028' }, removed: 1, bytes: expect.any(Number) },
      { stream: 'db.222', removed: 0, bytes: 0 },
    ]);
    expect(await segmentsOf(on.archive, 'db.111')).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);

    await forgetSnapshots(on.archive, { component: 'db', policy: { keepLast: 2 } });
    const dry = await forgetWal(on.archive, { component: 'db', dryRun: true });
    expect(dry[0]).toMatchObject({ stream: 'db.111', keptFrom: { lsn: '0/500000' }, removed: 3 });
    expect(await segmentsOf(on.archive, 'db.111')).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    await forgetWal(on.archive, { component: 'db' });
    expect(await segmentsOf(on.archive, 'db.111')).toEqual([5, 6, 7, 8, 9]);

    await forgetSnapshots(on.archive, { component: 'db', policy: { keepLast: 1 } });
    // Without a component: every stream, each by its own snapshots.
    await forgetWal(on.archive);
    expect(await segmentsOf(on.archive, 'db.111')).toEqual([8, 9]);
    expect(await segmentsOf(on.archive, 'db.222')).toEqual([1, 2]);
    expect(await segmentsOf(on.archive, 'other.111')).toEqual([1, 2]);
  });
});

describe('retention of wal after a pull', () => {
  it('drops the wal only the snapshots the pull forgot needed', async () => {
    const box = await sandbox('redis://127.0.0.1:1');
    try {
      await mkdir(box.source, { recursive: true });
      await writeFile(join(box.source, 'status'), 'first\n');
      await serverSnapshot(box.archive, box.source, 'docs', '7', '0/200000');
      await serverSnapshot(box.archive, box.source, 'docs', '7', '0/500000');
      await storeWal(box.archive, 'docs.7', [1, 2, 3, 4, 5, 6]);
      await treeRecipe().export({ component: 'docs', path: box.source, outbox: box.outbox, exportId: 'e1' });
      const result = await pullArtifact({
        component: 'docs',
        config: { ...box.config.components.docs!, retention: { keepLast: 2 } },
        exportId: 'e1',
        epoch: 1,
        outbox: box.outbox,
        archive: box.archive,
        stagingDir: box.stagingDir,
        forget: forgetSnapshots,
      });
      expect(result.forgotten).toBe(true);
      expect(await segmentsOf(box.archive, 'docs.7')).toEqual([5, 6]);
    } finally {
      await box.remove();
    }
  });
});
