import { mkdir, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, forgetSnapshots, pruneArchive } from '../src/index.js';
import { newWorkspace, objectNames, type Workspace } from './helpers/archive-fixture.js';

describe.each(['fs', 's3'] as const)('prune and restore proofs on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['proofs'] });
      backend = openBackend('s3://proofs/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`proofs-${driver}`, backend);
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('removes the proofs of forgotten snapshots and keeps those of kept ones', async () => {
    await mkdir(ws.path('src'));
    const ids: string[] = [];
    for (const round of [1, 2, 3]) {
      await writeFile(ws.path('src', 'f'), `round ${round}\n`);
      const snapshot = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'db' } });
      ids.push(snapshot.id);
      // Proof objects are sealed by their writer; prune compares names only.
      await ws.backend.save(`proofs/${snapshot.id}`, Buffer.from('sealed proof'));
    }
    await forgetSnapshots(ws.archive, { component: 'db', policy: { keepLast: 1 } });
    const dry = await pruneArchive(ws.archive, { dryRun: true });
    expect(dry.proofsRemoved).toBe(2);
    expect((await objectNames(ws.backend)).filter((n) => n.startsWith('proofs/'))).toHaveLength(3);
    const result = await pruneArchive(ws.archive);
    expect(result.proofsRemoved).toBe(2);
    expect((await objectNames(ws.backend)).filter((n) => n.startsWith('proofs/'))).toEqual([
      `proofs/${ids[2]}`,
    ]);
    expect((await pruneArchive(ws.archive)).proofsRemoved).toBe(0);
  });
});
