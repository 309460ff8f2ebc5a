import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Archive,
  archiveWalFile,
  backupTree,
  forgetSnapshots,
  initArchive,
  listWal,
  type Snapshot,
  segmentName,
} from '@pullback/archive';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { snapshotTags } from '../src/domain/snapshot-description.js';
import { forgetWal, pullArtifact } from '../src/index.js';
import { sandbox } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const SEGMENT = 1024 * 1024;

/** Segments `numbers` of timeline 1 of `stream`. */
async function storeWal(archive: Archive, stream: string, numbers: number[]): Promise<void> {
  for (const n of numbers) {
    await archiveWalFile(archive, stream, segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
      segmentSize: SEGMENT,
      partial: false,
      firstReceivedAt: new Date().toISOString(),
      lastReceivedAt: new Date().toISOString(),
    });
  }
}

/** A physical snapshot of `component` on server `systemIdentifier`, starting at `startLsn`. */
async function serverSnapshot(
  archive: Archive,
  source: string,
  component: string,
  systemIdentifier: string,
  startLsn: string,
): Promise<Snapshot> {
  return backupTree(archive, source, {
    tags: snapshotTags({
      component,
      recipe: 'postgres',
      kind: 'physical',
      server: { systemIdentifier, timeline: 1, startLsn, endLsn: startLsn },
    }),
  });
}

async function segmentsOf(archive: Archive, stream: string): Promise<number[]> {
  return (await listWal(archive, stream)).map((info) => Number.parseInt(info.name.slice(16), 16));
}

describe.each(['fs', 's3'] as const)('retention of wal on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let archive: Archive;
  let remove: () => Promise<void>;
  let source: string;

  beforeAll(async () => {
    const scratch = await scratchDir('forget-wal');
    remove = scratch.remove;
    let backend: Backend | string = join(scratch.path, 'archive');
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['retention'] });
      backend = openBackend('s3://retention/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ({ archive } = await initArchive({ archive: backend, keyFile: join(scratch.path, 'key') }));
    source = join(scratch.path, 'source');
    await mkdir(source);
    await writeFile(join(source, 'PG_VERSION'), '16\n');
  });
  afterAll(async () => {
    await remove?.();
    await s3?.stop();
  });

  it('keeps exactly the wal from the oldest kept snapshot on, per stream', async () => {
    await serverSnapshot(archive, source, 'db', '111', '0/200028');
    await serverSnapshot(archive, source, 'db', '111', '0/500000');
    await serverSnapshot(archive, source, 'db', '111', '0/8FF000');
    await storeWal(archive, 'db.111', [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A new server of the same component, no snapshot yet: its WAL is all kept.
    await storeWal(archive, 'db.222', [1, 2]);
    // Another component's stream is not this component's business.
    await storeWal(archive, 'other.111', [1, 2]);

    expect(await forgetWal(archive, { component: 'db' })).toEqual([
      { stream: 'db.111', keptFrom: { timeline: 1, lsn: '0/200028' }, removed: 1, bytes: expect.any(Number) },
      { stream: 'db.222', removed: 0, bytes: 0 },
    ]);
    expect(await segmentsOf(archive, 'db.111')).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);

    await forgetSnapshots(archive, { component: 'db', policy: { keepLast: 2 } });
    const dry = await forgetWal(archive, { component: 'db', dryRun: true });
    expect(dry[0]).toMatchObject({ stream: 'db.111', keptFrom: { lsn: '0/500000' }, removed: 3 });
    expect(await segmentsOf(archive, 'db.111')).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    await forgetWal(archive, { component: 'db' });
    expect(await segmentsOf(archive, 'db.111')).toEqual([5, 6, 7, 8, 9]);

    await forgetSnapshots(archive, { component: 'db', policy: { keepLast: 1 } });
    // Without a component: every stream, each by its own snapshots.
    await forgetWal(archive);
    expect(await segmentsOf(archive, 'db.111')).toEqual([8, 9]);
    expect(await segmentsOf(archive, 'db.222')).toEqual([1, 2]);
    expect(await segmentsOf(archive, 'other.111')).toEqual([1, 2]);
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
