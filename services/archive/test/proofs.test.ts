import { mkdir, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, forgetSnapshots, listProofs, pruneArchive, recordProof } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';

/** Proofs (docs/wal.md "Proofs"): recorded, listed, replaced, refused when moved, pruned with their snapshot. */
function proofSuite(open: () => Promise<Workspace>) {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await open();
    await mkdir(ws.path('src'), { recursive: true });
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it('records a proof per snapshot, lists them by id, and drops those of snapshots prune finds gone', async () => {
    const ids: string[] = [];
    for (const round of [1, 2]) {
      await writeFile(ws.path('src', 'status'), `round ${round}\n`);
      ids.push((await backupTree(ws.archive, ws.path('src'))).id);
    }
    const [first, second] = ids as [string, string];
    expect(await listProofs(ws.archive)).toEqual(new Map());
    await recordProof(ws.archive, first, {
      at: '2026-01-01T00:00:00.000Z',
      by: 'agent:1 b',
      ok: false,
      reason: 'did not start',
    });
    await recordProof(ws.archive, first, { at: '2026-01-01T01:00:00.000Z', by: 'agent:1 b', ok: true });
    await recordProof(ws.archive, second, { at: '2026-01-01T02:00:00.000Z', by: 'agent:2 c', ok: true });
    const reopened = await ws.reopen();
    expect(await listProofs(reopened)).toEqual(
      new Map([
        [first, { at: '2026-01-01T01:00:00.000Z', by: 'agent:1 b', ok: true }],
        [second, { at: '2026-01-01T02:00:00.000Z', by: 'agent:2 c', ok: true }],
      ]),
    );

    await forgetSnapshots(reopened, { policy: { keepLast: 1 } });
    await pruneArchive(reopened);
    expect([...(await listProofs(reopened)).keys()]).toEqual([second]);
  });

  it('refuses a proof copied under another snapshot id, with a warning', async () => {
    await writeFile(ws.path('src', 'status'), 'moved\n');
    const { id } = await backupTree(ws.archive, ws.path('src'));
    await recordProof(ws.archive, id, { at: '2026-01-01T00:00:00.000Z', by: 'x', ok: true });
    const stolen = await ws.archive.loadObject(`proofs/${id}`);
    const other = 'f'.repeat(64);
    await ws.backend.save(`proofs/${other}`, stolen);
    const warnings: string[] = [];
    ws.archive.onWarning = (message) => warnings.push(message);
    const proofs = await listProofs(ws.archive);
    expect(proofs.has(id)).toBe(true);
    expect(proofs.has(other)).toBe(false);
    expect(warnings).toEqual([`proof proofs/${other} fails authentication`]);
    await expect(recordProof(ws.archive, '../config', { at: '', by: '', ok: true })).rejects.toThrow(
      'not a snapshot id: "../config"',
    );
  });
}

describe('proofs on the fs driver', () => {
  proofSuite(() => newWorkspace('proofs'));
});

describe('proofs on the S3 driver', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['archive'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  proofSuite(() =>
    newWorkspace(
      'proofs-s3',
      openBackend('s3://archive/proofs', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      }),
    ),
  );
});
