import { chmod, chown, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type PostgresServer,
  postgresOwner,
  type S3Server,
  scratchDir,
  startPostgres,
  startS3,
} from '@pullback/harness';
import { type ArtifactManifest, completeName } from '@pullback/pipeline';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishedTablespaceTars } from '../src/export-tablespaces.js';
import { postgresRecipe } from '../src/index.js';
import { faultyOutbox } from './helpers/faulty-outbox.js';
import { loadBytes, outboxNames } from './helpers/outbox-names.js';

let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let oid: string;

beforeAll(async () => {
  [active, scratch] = await Promise.all([startPostgres(), scratchDir('tablespace-export')]);
  await chmod(scratch.path, 0o755);
  const location = join(scratch.path, 'ts');
  await mkdir(location, { mode: 0o700 });
  const owner = await postgresOwner();
  if (owner) await chown(location, owner.uid, owner.gid);
  await mkdir(join(scratch.path, 'staging'));
  await active.psql(`create tablespace fast location '${location}'`);
  await active.psql(
    `create table items (id int primary key using index tablespace fast) tablespace fast;
     insert into items select generate_series(1, 2000)`,
  );
  oid = await active.psql(`select oid from pg_tablespace where spcname = 'fast'`);
}, 120_000);

afterAll(async () => {
  await active?.stop();
  await scratch?.remove();
});

const exportTo = (outbox: Backend, exportId: string) =>
  postgresRecipe({ stagingDir: join(scratch.path, 'staging') }).export({
    component: 'shop',
    instance: { name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
    outbox,
    exportId,
  });

/** An export of the cluster with a tablespace carries it as a tar of its own, rooted at pg_tblspc/<oid>. */
async function expectTablespaceArtifact(outbox: Backend, exportId: string): Promise<void> {
  const manifest = await exportTo(outbox, exportId);
  expect(await outboxNames(outbox, `${exportId}/`)).toEqual(
    [
      `${exportId}/${oid}.tar`,
      `${exportId}/COMPLETE`,
      `${exportId}/backup_manifest.tar`,
      `${exportId}/base.tar`,
    ].sort(),
  );
  expect(manifest.tablespaces).toEqual({ [oid]: join(scratch.path, 'ts') });
  expect(manifest.objects.map((object) => [object.name, object.root])).toEqual([
    [`${exportId}/${oid}.tar`, `pg_tblspc/${oid}`],
    [`${exportId}/base.tar`, undefined],
    [`${exportId}/backup_manifest.tar`, undefined],
  ]);
  expect(manifest.server?.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  const stored = JSON.parse((await loadBytes(outbox, completeName(exportId))).toString()) as ArtifactManifest;
  expect(stored).toEqual(manifest);
  // The staging directory is emptied as it goes.
  expect(await readdir(join(scratch.path, 'staging'))).toEqual([]);
}

describe('physical export of a cluster with a tablespace', () => {
  it('into a directory outbox', { timeout: 120_000 }, async () => {
    await expectTablespaceArtifact(openBackend(join(scratch.path, 'outbox')), 't1');
  });

  it('into an S3 outbox', { timeout: 120_000 }, async () => {
    const s3: S3Server = await startS3({ buckets: ['outbox'] });
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      await expectTablespaceArtifact(openBackend('s3://outbox/shop'), 's1');
    } finally {
      process.env = saved;
      await s3.stop();
    }
  });

  it("with the agent's own backup asked for, goes to pg_basebackup, which carries the tablespace", async () => {
    const outbox = openBackend(join(scratch.path, 'own'));
    const warnings: string[] = [];
    const manifest = await postgresRecipe({ stagingDir: join(scratch.path, 'staging') }).export({
      component: 'shop',
      instance: { name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
      outbox,
      exportId: 'o1',
      ownBackup: true,
      stateDir: join(scratch.path, 'state'),
      onWarning: (message) => warnings.push(message),
    });
    expect(manifest.details?.method).not.toBe('own');
    expect(manifest.tablespaces).toEqual({ [oid]: join(scratch.path, 'ts') });
    expect(warnings).toEqual([
      "export o1: pg_basebackup instead of the agent's own backup: the server has 1 tablespace(s)",
    ]);
  });

  it('a failed save leaves neither the artifact nor the staged tars', { timeout: 120_000 }, async () => {
    const outbox = openBackend(join(scratch.path, 'faulty'));
    await expect(exportTo(faultyOutbox(outbox, { failAfterBytes: 64 * 1024 }), 'f1')).rejects.toThrow(
      /export f1 of shop: .*injected outbox failure/,
    );
    expect(await outboxNames(outbox)).toEqual([]);
    expect(await readdir(join(scratch.path, 'staging'))).toEqual([]);
  });
});

describe('finishedTablespaceTars', () => {
  it('takes a tablespace tar as finished once a tar was written after it, never the latest', async () => {
    const dir = join(scratch.path, 'finished');
    await mkdir(dir);
    const at = async (name: string, second: number) => {
      await writeFile(join(dir, name), '');
      await utimes(join(dir, name), second, second);
    };
    await at('16390.tar', 1000);
    expect(await finishedTablespaceTars(dir)).toEqual([]);
    await at('16391.tar', 1000);
    // The same mtime: either may still be written.
    expect(await finishedTablespaceTars(dir)).toEqual([]);
    await at('16391.tar', 1001);
    expect(await finishedTablespaceTars(dir)).toEqual(['16390.tar']);
    await at('base.tar', 1002);
    await at('backup_manifest.tmp', 1003);
    expect(await finishedTablespaceTars(dir)).toEqual(['16390.tar', '16391.tar']);
  });
});
