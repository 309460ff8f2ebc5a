import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type S3Server, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, restoreSnapshot } from '../src/index.js';
import type { ArchiveConfigOptions } from '../src/repository/config.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { pseudoRandom } from './helpers/make-tree.js';

const MiB = 1024 * 1024;

/**
 * The file of issue 8, item 1, at any scale: `blocks` blocks of `blockSize`; odd
 * blocks random, blocks whose number is a multiple of 4 one fixed random block
 * reversed, the other even blocks that fixed block. With `insert`, its bytes go in at
 * `insert.offset` (the rest moves along), as an editor saving an insertion does.
 */
async function writeRepeating(
  path: string,
  blocks: number,
  blockSize: number,
  insert?: { offset: number; bytes: Buffer },
): Promise<void> {
  const fixed = pseudoRandom(7, blockSize);
  const reversed = Buffer.from(fixed).reverse();
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  try {
    let position = 0;
    for (let i = 0; i < blocks; i++) {
      const block = i % 2 === 1 ? pseudoRandom(1000 + i, blockSize) : i % 4 === 0 ? reversed : fixed;
      const cut = insert ? insert.offset - position : -1;
      if (cut >= 0 && cut < blockSize) {
        await handle.write(block.subarray(0, cut));
        await handle.write(insert!.bytes);
        await handle.write(block.subarray(cut));
      } else {
        await handle.write(block);
      }
      position += blockSize;
    }
  } finally {
    await handle.close();
  }
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Backs the file up, inserts 4 KiB at its middle + 12345, backs up again, restores both. */
async function insertAndBackUp(ws: Workspace, blocks: number, blockSize: number): Promise<void> {
  const file = ws.path('src', 'disk.img');
  await writeRepeating(file, blocks, blockSize);
  const before = await sha256(file);
  const first = await backupTree(ws.archive, ws.path('src'));
  const size = blocks * blockSize;
  await writeRepeating(file, blocks, blockSize, {
    offset: size / 2 + 12345,
    bytes: pseudoRandom(99, 4096),
  });
  const after = await sha256(file);
  const second = await backupTree(ws.archive, ws.path('src'));
  expect(second.parent).toBe(first.id);
  // Only the chunks around the insertion are new.
  expect(second.stats.newBytesStored).toBeLessThan(size / 8);
  for (const [snapshot, expected] of [
    [first, before],
    [second, after],
  ] as const) {
    const target = ws.path(`restored-${snapshot.id.slice(0, 8)}`);
    await restoreSnapshot(ws.archive, snapshot.id, { target });
    expect(await sha256(`${target}/disk.img`)).toBe(expected);
    await rm(target, { recursive: true });
  }
}

/** Chunks 16 times smaller than the default, so a 12.5 MiB file has as many as the 200 MiB one. */
const SMALL_CHUNKS: ArchiveConfigOptions = {
  chunker: { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 },
};

describe('incremental backup of a file whose chunks repeat', () => {
  describe('on the fs driver', () => {
    let ws: Workspace;
    afterAll(async () => {
      await ws?.remove();
    });

    it('backs up an insertion into 200 blocks with repeats (scaled down 16x)', async () => {
      ws = await newWorkspace('repeat-fs', undefined, SMALL_CHUNKS);
      await insertAndBackUp(ws, 200, 64 * 1024);
    });

    it('backs up the issue file itself: 200 MiB, 4 KiB inserted at the middle + 12345', async () => {
      const exact = await newWorkspace('repeat-exact');
      try {
        await insertAndBackUp(exact, 200, MiB);
      } finally {
        await exact.remove();
      }
    }, 600_000);
  });

  describe('on the S3 driver', () => {
    let s3: S3Server;
    let ws: Workspace;
    beforeAll(async () => {
      s3 = await startS3({ buckets: ['archive'] });
      const backend: Backend = openBackend('s3://archive/repeat', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
      ws = await newWorkspace('repeat-s3', backend, SMALL_CHUNKS);
    });
    afterAll(async () => {
      await ws?.remove();
      await s3?.stop();
    });

    it('backs up an insertion into 200 blocks with repeats (scaled down 16x)', async () => {
      await insertAndBackUp(ws, 200, 64 * 1024);
    });
  });
});
