import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { initArchive } from '@pullback/archive';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArtifactWriter,
  describeArtifact,
  ingestArtifact,
  parseTablespaceMap,
  restoreWithTablespaces,
  snapshotTags,
  tablespaceRoot,
} from '../src/index.js';

const OID = '16390';
const ORIGINAL = '/srv/pullback-test-nowhere/fast';
const mtime = new Date('2026-01-02T03:04:05Z');

/** A tar of `members` (files and symlinks) as a stream. */
function tarOf(members: readonly { name: string; body?: string; linkname?: string }[]): PassThrough {
  const archive = pack();
  const out = new PassThrough();
  archive.pipe(out);
  for (const { name, body, linkname } of members) {
    if (linkname !== undefined) archive.entry({ name, type: 'symlink', linkname, mtime });
    else archive.entry({ name, mode: 0o600, mtime }, body ?? '');
  }
  archive.finalize();
  return out;
}

/**
 * A postgres-like artifact with a tablespace (its tar rooted at pg_tblspc/<oid>, base.tar
 * with the symlink pg_basebackup writes) pulled into a snapshot and restored with a
 * map, through the outbox `openOutbox` gives.
 */
function roundTrip(openOutbox: (scratch: string) => Backend) {
  it('pulls the tablespace into the snapshot and restores it where the map says', async () => {
    const scratch = await scratchDir('tablespace-artifact');
    try {
      const outbox = openOutbox(scratch.path);
      const { archive } = await initArchive({
        archive: join(scratch.path, 'archive'),
        keyFile: join(scratch.path, 'archive.key'),
      });
      const exportId = `t${Date.now()}`;
      const writer = (await ArtifactWriter.begin({ component: 'shop', outbox, exportId })) as ArtifactWriter;
      await writer.saveStream(`${OID}.tar`, tarOf([{ name: 'PG_15_202209061/5/16391', body: 'rows' }]), {
        root: tablespaceRoot(OID),
      });
      await writer.saveStream(
        'base.tar',
        tarOf([
          { name: 'PG_VERSION', body: '15\n' },
          { name: `pg_tblspc/${OID}`, linkname: ORIGINAL },
          { name: 'tablespace_map', body: `${OID} ${ORIGINAL}\n` },
        ]),
      );
      const manifest = await writer.commit({
        component: 'shop',
        recipe: 'postgres',
        kind: 'physical',
        tablespaces: { [OID]: ORIGINAL },
      });
      const snapshot = await ingestArtifact({
        archive,
        outbox,
        manifest,
        stagingDir: join(scratch.path, 'staging'),
        tags: snapshotTags(describeArtifact(manifest)),
        parent: null,
        workers: 0,
      });
      expect(JSON.parse(snapshot.tags.tablespaces!)).toEqual({ [OID]: ORIGINAL });

      const target = join(scratch.path, 'restored');
      const moved = join(scratch.path, 'fast');
      await restoreWithTablespaces(archive, snapshot.id, {
        target,
        tablespaceMap: parseTablespaceMap([`${ORIGINAL}=${moved}`]),
        workers: 0,
      });
      expect(await readFile(join(moved, 'PG_15_202209061/5/16391'), 'utf8')).toBe('rows');
      expect(await readlink(join(target, 'pg_tblspc', OID))).toBe(moved);
      expect(await readFile(join(target, 'tablespace_map'), 'utf8')).toBe(`${OID} ${moved}\n`);
      expect(await readFile(join(target, 'PG_VERSION'), 'utf8')).toBe('15\n');
    } finally {
      await scratch.remove();
    }
  });
}

describe('a tablespace through a directory outbox', () => {
  roundTrip((scratch) => openBackend(join(scratch, 'outbox')));
});

describe('a tablespace through an S3 outbox', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['outbox'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  roundTrip(() =>
    openBackend('s3://outbox/shop', {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    }),
  );
});
