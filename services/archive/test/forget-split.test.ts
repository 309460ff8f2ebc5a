import { mkdir, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, forgetSnapshots, listSnapshots } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

/**
 * `splitBy` divides a history for retention: the pipeline keeps a component's physical
 * and logical snapshots each on their own (docs/exports.md), so a keep-N of one kind
 * never forgets snapshots of the other.
 */
describe.each(['fs', 's3'] as const)('forget with splitBy on the %s driver', (driver) => {
  let ws: Workspace;
  let s3: S3Server | undefined;
  beforeAll(async () => {
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['split'] });
      const backend = openBackend('s3://split/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
      ws = await newWorkspace('forget-split-s3', backend);
    } else {
      ws = await newWorkspace('forget-split');
    }
  }, 60_000);
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  let staged = 0;
  async function backupOf(kind: string): Promise<string> {
    const dir = `staging-${staged++}`;
    await mkdir(ws.path(dir), { recursive: true });
    await writeFile(ws.path(dir, 'file'), dir);
    return (await backupTree(ws.archive, ws.path(dir), { tags: { component: 'shop', kind } })).id;
  }

  it('keeps the newest of each part, and without splitBy counts them together', async () => {
    const physical = [await backupOf('physical'), await backupOf('physical')];
    const logical = [await backupOf('logical'), await backupOf('logical'), await backupOf('logical')];
    const kindOf = (snapshot: { tags: Readonly<Record<string, string>> }) => snapshot.tags.kind ?? '';

    const together = await forgetSnapshots(ws.archive, { policy: { keepLast: 2 }, dryRun: true });
    expect(together.forgotten.map((s) => s.id).sort()).toEqual([...physical, logical[0]!].sort());

    const apart = await forgetSnapshots(ws.archive, { policy: { keepLast: 2 }, splitBy: kindOf });
    expect(apart.forgotten.map((s) => s.id)).toEqual([logical[0]]);
    expect((await listSnapshots(ws.archive, { component: 'shop' })).map((s) => s.id)).toEqual([
      ...physical,
      logical[1],
      logical[2],
    ]);
  });
});
