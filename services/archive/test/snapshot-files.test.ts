import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, findSnapshot, SnapshotFiles } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { compressible, pseudoRandom, writeAt, writeLargeFile } from './helpers/make-tree.js';

const PAGE = 8192;
const RELATION = 'base/16384/16385';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Each file of the snapshot read back through SnapshotFiles, by path: its sha256. */
async function readBack(ws: Workspace, id: string): Promise<Map<string, string>> {
  const files = await SnapshotFiles.open(ws.archive, await findSnapshot(ws.archive, id));
  const hashes = new Map<string, string>();
  for await (const entry of files.entries()) {
    if (entry.type !== 'file') continue;
    const hash = createHash('sha256');
    let size = 0;
    for await (const piece of files.content(entry)) {
      hash.update(piece);
      size += piece.length;
    }
    expect(size).toBe(entry.size);
    hashes.set(entry.path, hash.digest('hex'));
  }
  return hashes;
}

function suite(label: string, backend: () => Backend | undefined) {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await newWorkspace(label, backend());
    await writeLargeFile(ws.path('pg', RELATION), 20 * 1024 * 1024, (i, n) => pseudoRandom(i + 7, n));
    await writeLargeFile(ws.path('pg', 'pg_xact', 'big.log'), 6 * 1024 * 1024, (i, n) => compressible(i, n));
    await writeFile(ws.path('pg', 'PG_VERSION'), '15\n');
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it('reads each file of a snapshot back as it was backed up, and of an older one as it was then', async () => {
    const names = [RELATION, 'pg_xact/big.log', 'PG_VERSION'];
    const onDisk = async () =>
      new Map(
        await Promise.all(
          names.map(async (name) => [name, sha(await readFile(ws.path('pg', name)))] as const),
        ),
      );
    const first = await backupTree(ws.archive, ws.path('pg'));
    const before = await onDisk();
    await writeAt(ws.path('pg', RELATION), 700 * PAGE, pseudoRandom(1, PAGE));
    await writeAt(ws.path('pg', RELATION), 20 * 1024 * 1024, pseudoRandom(2, 3 * PAGE));
    await writeFile(ws.path('pg', 'PG_VERSION'), '16\n');
    const second = await backupTree(ws.archive, ws.path('pg'));
    const after = await onDisk();
    expect(after.get(RELATION)).not.toBe(before.get(RELATION));
    expect(await readBack(ws, first.id)).toEqual(before);
    expect(await readBack(ws, second.id)).toEqual(after);
  });
}

describe('snapshot files on the fs driver', () => suite('snapshot-files', () => undefined));

describe('snapshot files on the S3 driver', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['archive'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  suite('snapshot-files-s3', () =>
    openBackend('s3://archive/pullback', {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    }));
});
