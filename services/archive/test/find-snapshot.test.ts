import { mkdir, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, findSnapshot, isArchiveError, type Snapshot } from '../src/index.js';
import { readAll } from '../src/repository/stream-bytes.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    if (isArchiveError(error)) return { code: error.code, message: error.message, hint: error.hint };
    throw error;
  }
  throw new Error('expected a failure');
}

/**
 * Stores a copy of a snapshot's manifest under a chosen id: ids are hashes, so two
 * snapshots sharing a 4-character prefix would otherwise take hundreds of backups.
 */
async function copySnapshot(backend: Backend, from: Snapshot, id: string): Promise<void> {
  await backend.save(`snapshots/${id}`, await readAll(await backend.load(`snapshots/${from.id}`)));
}

const id = (prefix: string) => prefix.padEnd(64, '0');

describe.each(['fs', 's3'] as const)('findSnapshot on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let ws: Workspace;
  let shop: Snapshot;
  let blog: Snapshot;

  beforeAll(async () => {
    let backend: Backend | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['find'] });
      backend = openBackend('s3://find/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`find-${driver}`, backend);
    await mkdir(ws.path('src'));
    await writeFile(ws.path('src', 'a.txt'), 'a');
    shop = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'shop' } });
    blog = await backupTree(ws.archive, ws.path('src'), { tags: { component: 'blog' } });
    // Two shop snapshots sharing the prefix abcd, and ef01 shared by a shop and a blog snapshot.
    await copySnapshot(ws.backend, shop, id('abcd1'));
    await copySnapshot(ws.backend, shop, id('abcd2'));
    await copySnapshot(ws.backend, shop, id('ef011'));
    await copySnapshot(ws.backend, blog, id('ef012'));
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('refuses an ambiguous prefix and names the candidates with their times', async () => {
    const ambiguous = await failure(findSnapshot(ws.archive, 'abcd', { component: 'shop' }));
    expect(ambiguous.code).toBe('ambiguous-snapshot');
    expect(ambiguous.message).toBe(
      `snapshot id prefix abcd matches 2 snapshots of component shop in archive ${ws.backend.location}`,
    );
    expect(ambiguous.hint).toBe(
      `give more characters of one of: abcd10000000 (${shop.time}), abcd20000000 (${shop.time})`,
    );
    expect((await findSnapshot(ws.archive, 'abcd2', { component: 'shop' })).id).toBe(id('abcd2'));
  });

  it('refuses a prefix shorter than 4 characters, even when it names one snapshot', async () => {
    for (const ref of [shop.id.slice(0, 1), shop.id.slice(0, 3)]) {
      const short = await failure(findSnapshot(ws.archive, ref, { component: 'shop' }));
      expect(short.code).toBe('unknown-snapshot');
      expect(short.message).toBe(`snapshot id prefix ${ref} is too short`);
      expect(short.hint).toMatch(/at least 4 characters/);
    }
  });

  it('looks only at the component asked for, with a prefix as with latest', async () => {
    expect((await findSnapshot(ws.archive, 'ef01', { component: 'shop' })).id).toBe(id('ef011'));
    expect((await findSnapshot(ws.archive, 'ef01', { component: 'blog' })).id).toBe(id('ef012'));
    expect((await failure(findSnapshot(ws.archive, 'ef01'))).code).toBe('ambiguous-snapshot');
    const elsewhere = await failure(findSnapshot(ws.archive, blog.id.slice(0, 8), { component: 'shop' }));
    expect(elsewhere.code).toBe('unknown-snapshot');
    expect(elsewhere.message).toBe(
      `no snapshot ${blog.id.slice(0, 8)} of component shop in archive ${ws.backend.location}`,
    );
    expect((await findSnapshot(ws.archive, 'latest', { component: 'blog' })).tags.component).toBe('blog');
    expect((await findSnapshot(ws.archive, shop.id)).id).toBe(shop.id);
  });
});
