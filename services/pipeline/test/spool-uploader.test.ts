import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, fetchWalFile, initArchive } from '@pullback/archive';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { walArchiveOf } from '../src/wal/archive-wal-store.js';
import { SpoolUploader } from '../src/wal/spool-uploader.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const SEGMENT = 1024 * 1024;
const STREAM = 'db.7301234567890123456';

/** WAL-like bytes of one segment: no page of zeros, compressible, distinct per seed. */
function segmentBytes(seed: number): Buffer {
  const bytes = Buffer.alloc(SEGMENT, 0x40 + seed);
  for (let at = 0; at < SEGMENT; at += 8192) bytes.writeUInt32LE((seed << 20) + at, at + 64);
  return bytes;
}

/** pg_receivewal's partial file: `received` bytes of `whole`, then zeros to the segment's size. */
function partialFile(whole: Buffer, received: number): Buffer {
  const file = Buffer.alloc(SEGMENT);
  whole.copy(file, 0, 0, received);
  return file;
}

describe.each(['fs', 's3'] as const)('the spool uploader on the %s driver', (driver) => {
  let s3: S3Server | undefined;
  let archive: Archive;
  let remove: () => Promise<void>;
  let spoolDir: string;

  beforeAll(async () => {
    const scratch = await scratchDir('spool-uploader');
    remove = scratch.remove;
    let backend: Backend | string = join(scratch.path, 'archive');
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['spool'] });
      backend = openBackend('s3://spool/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ({ archive } = await initArchive({ archive: backend, keyFile: join(scratch.path, 'key') }));
    spoolDir = scratch.path;
  });
  afterAll(async () => {
    await remove?.();
    await s3?.stop();
  });

  it('stores a growing partial, then the segment it became and the next partial, each as its own bytes', async () => {
    // Every store goes through the uploader's kept buffers: none may show another's bytes.
    const uploader = new SpoolUploader({
      archive: walArchiveOf(archive),
      stream: STREAM,
      spoolDir,
      segmentSize: SEGMENT,
    });
    const [a, b] = ['000000010000000000000007', '000000010000000000000008'];
    const [wholeA, wholeB] = [segmentBytes(1), segmentBytes(2)];
    const fetchPartial = async (name: string) =>
      (await fetchWalFile(archive, STREAM, name, { allowPartial: true }))?.content;

    await writeFile(join(spoolDir, `${a}.partial`), partialFile(wholeA, 300_000));
    await uploader.storeSpool();
    expect((await fetchPartial(a))?.equals(partialFile(wholeA, 300_000))).toBe(true);

    await writeFile(join(spoolDir, `${a}.partial`), partialFile(wholeA, 600_000));
    await uploader.storeSpool();
    expect((await fetchPartial(a))?.equals(partialFile(wholeA, 600_000))).toBe(true);

    await writeFile(join(spoolDir, `${a}.partial`), wholeA);
    await rename(join(spoolDir, `${a}.partial`), join(spoolDir, a));
    await writeFile(join(spoolDir, `${b}.partial`), partialFile(wholeB, 100_000));
    await uploader.storeSpool();
    expect((await fetchWalFile(archive, STREAM, a))?.content.equals(wholeA)).toBe(true);
    expect((await fetchPartial(b))?.equals(partialFile(wholeB, 100_000))).toBe(true);

    await writeFile(join(spoolDir, `${b}.partial`), partialFile(wholeB, 500_000));
    await uploader.storeSpool();
    expect((await fetchPartial(b))?.equals(partialFile(wholeB, 500_000))).toBe(true);
    expect((await fetchWalFile(archive, STREAM, a))?.content.equals(wholeA)).toBe(true);
    // Segment 8 starts at 0/800000; 500000 bytes in is 0x7A120 further.
    expect(uploader.archived?.lsn).toBe('0/87A120');
  });
});
