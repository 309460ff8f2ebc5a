import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, PAGE_SIZE, restoreSnapshot, SnapshotFiles } from '@pullback/archive';
import { freePort, type PostgresServer, waitFor } from '@pullback/harness';
import { backupComponent, type Config } from '@pullback/pipeline';
import type { Backend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecipe, query } from '../src/index.js';
import { outboxNames } from './helpers/outbox-names.js';
import { serverDir, stableDump } from './helpers/servers.js';
import { pgbenchServer, shopSandbox } from './helpers/shop-sandbox.js';

const execFileAsync = promisify(execFile);

let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let archive: Archive;
let outbox: Backend;
let config: Config;

beforeAll(async () => {
  active = await pgbenchServer(2);
  ({ scratch, archive, outbox, config } = await shopSandbox(active, 'in-place'));
});

afterAll(async () => {
  await active?.stop();
  await scratch?.remove();
});

/** `pullback backup shop` as the command runs it: a full read, here archived in place. */
function backupShop(warnings: string[] = []) {
  return backupComponent({
    component: 'shop',
    config: config.components.shop!,
    recipe: postgresRecipe(),
    outbox,
    archive,
    stagingDir: join(scratch.path, 'staging'),
    full: true,
    onWarning: (message) => warnings.push(message),
  });
}

async function pgDump(port: number): Promise<string> {
  const { stdout } = await execFileAsync(
    join(active.binDir, 'pg_dump'),
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '--no-sync', 'postgres'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return stableDump(stdout);
}

/** Flips a byte in the tuples of `block` of `table`'s file (not in its header); returns the file. */
async function damage(table: string, block: number): Promise<string> {
  await active.psql('checkpoint');
  const relative = await active.psql(`select pg_relation_filepath('${table}')`);
  const handle = await open(join(active.dataDir, relative), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, block * PAGE_SIZE + 4000);
    await handle.write(Buffer.from([byte[0]! ^ 0x5a]), 0, 1, block * PAGE_SIZE + 4000);
  } finally {
    await handle.close();
  }
  return relative;
}

describe('the one-shot backup of a full read, archived in place', () => {
  it('reads the active while it is written to, stages nothing, and restores to the same data, amcheck clean', async () => {
    const load = execFileAsync(join(active.binDir, 'pgbench'), [
      '-c',
      '2',
      '-t',
      '300',
      '-d',
      active.connectionString(),
    ]);
    const warnings: string[] = [];
    const result = await backupShop(warnings);
    await load;
    expect(warnings).toEqual([]);
    expect(result.export.objects).toEqual([]);
    expect(result.export.details).toMatchObject({ method: 'own', dataChecksums: true, corruptPages: [] });
    expect(await outboxNames(outbox)).toEqual([]);
    expect(result.snapshot.tags).toMatchObject({
      component: 'shop',
      kind: 'physical',
      exportId: result.export.exportId,
      startLsn: result.export.server?.startLsn,
      endLsn: result.export.server?.endLsn,
    });
    // The files read after pg_backup_stop took their places in the tree.
    const files = await SnapshotFiles.open(archive, result.snapshot);
    const paths: string[] = [];
    for await (const entry of files.entries()) paths.push(entry.path);
    expect(paths).toEqual(expect.arrayContaining(['backup_label', 'global/pg_control', 'base']));
    expect(paths.some((path) => /^pg_wal\/[0-9A-F]{24}$/.test(path))).toBe(true);
    expect(paths).not.toContain('postmaster.pid');
    // The backup is over on the server, its session's slot gone with it.
    expect(await active.psql(`select count(*) from pg_replication_slots where temporary`)).toBe('0');

    const fallback = await serverDir('in-place-fallback');
    const standby = { name: 'shop-b', host: '127.0.0.1', port: await freePort(), dataDir: fallback.dataDir };
    const importer = postgresRecipe({ socketDir: fallback.socketDir });
    const target = {
      component: 'shop',
      instance: standby,
      upstream: { host: '127.0.0.1', port: active.port },
    };
    try {
      await restoreSnapshot(archive, result.snapshot.id, { target: fallback.dataDir });
      await importer.afterRestore?.(target);
      const activeLsn = await active.psql('select pg_current_wal_lsn()');
      await waitFor('the copy to replay up to the active', async () =>
        (await query(standby, `select pg_last_wal_replay_lsn() >= '${activeLsn}'`)) === 't'
          ? true
          : undefined,
      );
      expect(await pgDump(standby.port)).toBe(await pgDump(active.port));
      await execFileAsync(join(active.binDir, 'pg_amcheck'), [
        '-h',
        '127.0.0.1',
        '-p',
        String(standby.port),
        '-U',
        'postgres',
        '--heapallindexed',
        '--all',
      ]);
    } finally {
      await importer.beforeRestore?.(target);
      await fallback.remove();
    }
  });

  it('reports corrupt pages of large and small relation files with file and block, and still makes the snapshot', async () => {
    // About 1 MB (read by regions) and one page (read with the small files).
    await active.psql(
      'create table damaged as select g, repeat($$x$$, 500) as filler from generate_series(1, 2000) g',
    );
    await active.psql('create table tiny as select g from generate_series(1, 10) g');
    try {
      const large = await damage('damaged', 3);
      const small = await damage('tiny', 0);
      const result = await backupShop();
      expect(result.export.objects).toEqual([]);
      const corrupt = result.export.details?.corruptPages as { file: string; block: number }[];
      expect([...corrupt].sort((a, b) => a.file.localeCompare(b.file))).toEqual(
        [
          { file: large, block: 3 },
          { file: small, block: 0 },
        ].sort((a, b) => a.file.localeCompare(b.file)),
      );
      expect(result.snapshot.stats.files).toBeGreaterThan(100);
    } finally {
      await active.psql('drop table damaged; drop table tiny');
    }
  });
});
