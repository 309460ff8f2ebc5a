import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Archive,
  archiveWalFile,
  backupTree,
  initArchive,
  type Snapshot,
  segmentName,
} from '@pullback/archive';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll } from 'vitest';
import { snapshotTags } from '../../src/domain/snapshot-description.js';

/** The segment size of these tests' WAL: the smallest a server can have, 1 MiB. */
export const SEGMENT = 1024 * 1024;

/** When segment `n` was received; default: now. */
export type ReceivedTimes = (n: number) => { firstReceivedAt: string; lastReceivedAt: string };

const receivedNow: ReceivedTimes = () => {
  const now = new Date().toISOString();
  return { firstReceivedAt: now, lastReceivedAt: now };
};

/** Segments `numbers` of timeline 1 of `stream`, each filled with its number. */
export async function storeWal(
  archive: Archive,
  stream: string,
  numbers: number[],
  received: ReceivedTimes = receivedNow,
): Promise<void> {
  for (const n of numbers) {
    await archiveWalFile(archive, stream, segmentName(BigInt(n), 1, SEGMENT), Buffer.alloc(SEGMENT, n), {
      segmentSize: SEGMENT,
      partial: false,
      ...received(n),
    });
  }
}

/** A physical snapshot of `component` on server `systemIdentifier`, starting at `startLsn`. */
export function serverSnapshot(
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

/**
 * An archive on `driver` for the tests of a describe block (made before them, removed
 * after), and a small source tree to snapshot. On s3, bucket `bucket` of a fresh
 * s3rver.
 */
export function archiveOn(
  driver: 'fs' | 's3',
  label: string,
  bucket: string,
): { readonly archive: Archive; readonly source: string } {
  let s3: S3Server | undefined;
  let remove: (() => Promise<void>) | undefined;
  const made: { archive?: Archive; source?: string } = {};
  beforeAll(async () => {
    const scratch = await scratchDir(label);
    remove = scratch.remove;
    let backend: Backend | string = join(scratch.path, 'archive');
    if (driver === 's3') {
      s3 = await startS3({ buckets: [bucket] });
      backend = openBackend(`s3://${bucket}/pullback`, {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ({ archive: made.archive } = await initArchive({ archive: backend, keyFile: join(scratch.path, 'key') }));
    made.source = join(scratch.path, 'source');
    await mkdir(made.source);
    await writeFile(join(made.source, 'PG_VERSION'), '16\n');
  });
  afterAll(async () => {
    await remove?.();
    await s3?.stop();
  });
  return {
    get archive() {
      if (made.archive === undefined) throw new Error('the archive is made before the tests');
      return made.archive;
    },
    get source() {
      if (made.source === undefined) throw new Error('the source is made before the tests');
      return made.source;
    },
  };
}
