import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, listSnapshots, restoreSnapshot, type Snapshot } from '@pullback/archive';
import { freePort, type PostgresServer } from '@pullback/harness';
import {
  type ArtifactManifest,
  backupComponent,
  type Config,
  completeName,
  describeSnapshot,
  exportIdFor,
  isPipelineError,
  pullArtifact,
} from '@pullback/pipeline';
import type { Backend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecipe } from '../src/index.js';
import { recordPath } from '../src/own-backup/export-record.js';
import { walSegmentsBetween } from '../src/own-backup/wal-segments.js';
import { outboxNames } from './helpers/outbox-names.js';
import { serverDir, stableDump } from './helpers/servers.js';
import { pgbenchServer, shopSandbox } from './helpers/shop-sandbox.js';

const execFileAsync = promisify(execFile);
const WAL_SEGMENT = 16 * 1024 * 1024;

let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let archive: Archive;
let outbox: Backend;
let config: Config;
const recipe = postgresRecipe();

beforeAll(async () => {
  active = await pgbenchServer(3);
  ({ scratch, archive, outbox, config } = await shopSandbox(active, 'incremental'));
  await active.psql('create extension pg_visibility');
  // All visible in the map after the VACUUM; autovacuum off so only the test changes it.
  await active.psql(
    'create table seen with (autovacuum_enabled = off) as select g, repeat($$v$$, 100) as filler from generate_series(1, 5000) g',
  );
  await active.psql('vacuum (freeze) seen');
});

afterAll(async () => {
  await active?.stop();
  await scratch?.remove();
});

const stateDir = () => join(scratch.path, 'state');

async function backup(
  options: { full?: boolean } = {},
): Promise<{ snapshot: Snapshot; manifest: ArtifactManifest }> {
  const result = await backupComponent({
    component: 'shop',
    config: config.components.shop!,
    recipe,
    outbox,
    archive,
    stagingDir: join(scratch.path, 'staging'),
    stateDir: stateDir(),
    ...options,
  });
  // Pulled and removed, or never staged (a full read archived in place).
  expect(await outboxNames(outbox)).toEqual([]);
  return { snapshot: result.snapshot, manifest: result.export };
}

/**
 * The export worker's way: the recipe stages the artifact in the outbox (an incremental
 * one holds the changed files and pages), then the pull completes it against its parent.
 */
async function backupThroughOutbox(
  options: { full?: boolean } = {},
): Promise<{ snapshot: Snapshot; manifest: ArtifactManifest }> {
  const newest = (await listSnapshots(archive, { component: 'shop' }))
    .filter((snapshot) => describeSnapshot(snapshot).kind === 'physical')
    .at(-1);
  const exportId = exportIdFor('shop', randomUUID(), Date.now());
  const manifest = await recipe.export({
    component: 'shop',
    instance: { name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
    outbox,
    exportId,
    stateDir: stateDir(),
    ownBackup: true,
    newestExportId: newest === undefined ? null : (describeSnapshot(newest).exportId ?? null),
    ...options,
  });
  expect(manifest.objects.length).toBeGreaterThan(0);
  const { snapshot } = await pullArtifact({
    component: 'shop',
    config: config.components.shop!,
    exportId,
    epoch: 0,
    outbox,
    archive,
    stagingDir: join(scratch.path, 'staging'),
  });
  expect(await outboxNames(outbox)).toEqual([]);
  return { snapshot, manifest };
}

/** One query's rows (`psql -At`) on the server at `port`. */
async function rowsAt(port: number, sql: string): Promise<string> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-Atc', sql];
  return (await execFileAsync(join(active.binDir, 'psql'), args)).stdout;
}

/** Every database's dump, and the visibility map of `seen` (which pg_dump does not show). */
async function dumpAll(port: number): Promise<string> {
  const map = await rowsAt(
    port,
    'select blkno, all_visible, all_frozen from pg_visibility_map($$seen$$) order by blkno',
  );
  const dumps: string[] = [`visibility map of seen:\n${map}`];
  const databases = await rowsAt(
    port,
    'select datname from pg_database where not datistemplate order by datname',
  );
  for (const database of databases.trim().split('\n')) {
    const { stdout } = await execFileAsync(
      join(active.binDir, 'pg_dump'),
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '--no-sync', database],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    dumps.push(stableDump(stdout));
  }
  return dumps.join('\n');
}

/** Restores a snapshot, starts it as a hot standby on its own (no upstream), and gives its dump; amcheck must pass. */
async function restoredDump(snapshot: Snapshot): Promise<string> {
  const dir = await serverDir('incremental-restore');
  const instance = { name: 'shop-r', host: '127.0.0.1', port: await freePort(), dataDir: dir.dataDir };
  const importer = postgresRecipe({ socketDir: dir.socketDir });
  const target = { component: 'shop', instance };
  try {
    await restoreSnapshot(archive, snapshot.id, { target: dir.dataDir });
    await importer.afterRestore?.(target);
    await execFileAsync(join(active.binDir, 'pg_amcheck'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(instance.port),
      '-U',
      'postgres',
      '--heapallindexed',
      '--all',
    ]);
    return await dumpAll(instance.port);
  } finally {
    await importer.beforeRestore?.(target);
    await dir.remove();
  }
}

describe('incremental exports from the active host', () => {
  it.each([
    ['archived in place', 'a', backup],
    ['staged in the outbox and pulled', 'b', backupThroughOutbox],
  ] as const)(
    'reads only what changed, %s, and restores to exactly what a full export restores to',
    async (_, round, take) => {
      await active.psql(`create database fresh_${round}`);
      await active.psql(
        `create table doomed_${round} as select g from generate_series(1, 50000) g; create table shrinking_${round} as select g, repeat($$s$$, 200) as filler from generate_series(1, 40000) g`,
      );
      const first = await take({ full: true });
      expect(first.manifest.details?.method).toBe('own');
      expect(first.manifest.details?.incremental).toBeUndefined();
      const fullBytes = first.snapshot.stats.logicalBytes;

      // Between exports: 1% of the accounts updated, a table created and one dropped, a
      // VACUUM FULL (new files), a relation truncated by VACUUM, one extended, a new database.
      await active.psql('update pgbench_accounts set abalance = abalance + 1 where aid <= 3000');
      // Clears a page's all-visible bit: the heap record names the heap page, not the map's.
      await active.psql(`update seen set filler = $$w$$ where g = ${round === 'a' ? 2000 : 4000}`);
      await active.psql(
        `create table born_${round} as select g, md5(g::text) as h from generate_series(1, 20000) g`,
      );
      await active.psql(`drop table doomed_${round}`);
      await active.psql('vacuum full pgbench_branches');
      await active.psql(`delete from shrinking_${round} where g > 1000`);
      await active.psql(`vacuum shrinking_${round}`);
      const tellers = round === 'a' ? 1000 : 10000;
      await active.psql(
        `insert into pgbench_tellers select ${tellers} + g, 1, 0 from generate_series(1, 5000) g`,
      );
      await active.psql(
        'create table kept (note text); insert into kept values ($$in fresh$$)',
        `fresh_${round}`,
      );
      await active.psql('checkpoint');

      const second = await take();
      const incremental = second.manifest.details?.incremental as Record<string, number | string>;
      expect(incremental.parent).toBe(first.manifest.exportId);
      // The WAL since the first export, kept by the export slot, named the changed pages.
      expect(incremental.changedBy).toBe('wal');
      expect(incremental.walBlocks).toBeGreaterThan(100);
      expect(incremental.pageFiles).toBeGreaterThan(0);
      expect(incremental.unchangedFiles).toBeGreaterThan(100);
      if (take === backup) {
        // Nothing staged: the changed files, and of the others the changed pages and the
        // parent's superblocks that hold one, read where they lie; then the WAL
        // segments the backup needs, whole (one or two, whatever changed).
        expect(second.manifest.objects).toEqual([]);
        const { server } = second.manifest;
        const walBytes =
          walSegmentsBetween(server!.startLsn, server!.endLsn, server!.timeline, WAL_SEGMENT).length *
          WAL_SEGMENT;
        expect(second.snapshot.stats.bytesRead - walBytes).toBeLessThan(fullBytes / 4);
      } else {
        const stagedBytes = second.manifest.objects.reduce((sum, object) => sum + object.size, 0);
        expect(stagedBytes).toBeLessThan(fullBytes / 2);
        // The pull reads what was staged and, of the parent, only the superblocks holding a
        // changed page (about 1.2 × here): laying the deltas over the parent's files read
        // back whole read 3.5 ×.
        expect(second.snapshot.stats.bytesRead).toBeLessThan(stagedBytes * 2);
      }

      // The active is quiet now: a full export taken after it must restore to the same data.
      const full = await take({ full: true });
      expect(full.manifest.details?.incremental).toBeUndefined();
      const expected = await dumpAll(active.port);
      expect(expected).toContain('in fresh');
      expect(expected).not.toContain(`doomed_${round}`);
      expect(expected).toMatch(/^\d+\|f\|f$/m);
      const fromIncremental = await restoredDump(second.snapshot);
      expect(fromIncremental).toBe(expected);
      expect(await restoredDump(full.snapshot)).toBe(fromIncremental);
    },
  );

  it('reads everything when its record is gone, of another system, or of an export the archive does not hold', async () => {
    await backup();
    await active.psql('update pgbench_accounts set abalance = abalance - 1 where aid <= 100');
    expect((await backup()).manifest.details?.incremental).toBeDefined();

    // The slot gone and a checkpoint since (which may remove WAL): the WAL since is not
    // known to be kept, so changed files are read through.
    await active.psql(`select pg_drop_replication_slot('pullback_export_shop')`);
    await active.psql('update pgbench_accounts set abalance = abalance - 1 where aid <= 100');
    await active.psql('checkpoint');
    const unheldBackup = await backup();
    const unheld = unheldBackup.manifest.details?.incremental as Record<string, number | string>;
    expect(unheld).toMatchObject({ changedBy: 'page-lsn', whyNotWal: expect.stringMatching(/export slot/) });
    expect(unheld.pageFiles).toBeGreaterThan(0);
    // Made again by that export, and advanced to its start once committed: the next one reads the WAL.
    const slotAt = await active.psql(
      `select restart_lsn from pg_replication_slots where slot_name = 'pullback_export_shop'`,
    );
    expect(slotAt).toBe(unheldBackup.manifest.server?.startLsn);
    await active.psql('update pgbench_accounts set abalance = abalance - 1 where aid <= 100');
    expect((await backup()).manifest.details?.incremental).toMatchObject({ changedBy: 'wal' });

    await rm(recordPath(stateDir(), 'shop'));
    expect((await backup()).manifest.details?.incremental).toBeUndefined();

    const record = JSON.parse(await readFile(recordPath(stateDir(), 'shop'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(recordPath(stateDir(), 'shop'), JSON.stringify({ ...record, systemIdentifier: '42' }));
    expect((await backup()).manifest.details?.incremental).toBeUndefined();

    // A record of another archive: the export it names is none of this one's.
    const current = JSON.parse(await readFile(recordPath(stateDir(), 'shop'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(recordPath(stateDir(), 'shop'), JSON.stringify({ ...current, exportId: 'elsewhere-1' }));
    const elsewhere = await backup();
    expect(elsewhere.manifest.details?.incremental).toBeUndefined();

    // The full-read schedule: once the last full read is older than it, everything is read.
    const newest = elsewhere.manifest.exportId;
    const instance = { name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir };
    const asIs = {
      component: 'shop',
      instance,
      outbox,
      stateDir: stateDir(),
      ownBackup: true,
      newestExportId: newest,
    };
    const due = await recipe.export({ ...asIs, exportId: 'due-1', fullReadEveryMs: 1 });
    expect(due.details?.incremental).toBeUndefined();
    for await (const object of outbox.list('due-1/')) await outbox.remove(object.name);
  });

  it('builds on the newest physical snapshot across a logical one taken between', async () => {
    const physical = await backup();
    await active.psql('update pgbench_accounts set abalance = abalance + 7 where aid <= 500');
    const logical = await backupComponent({
      component: 'shop',
      config: config.components.shop!,
      recipe,
      outbox,
      archive,
      stagingDir: join(scratch.path, 'staging'),
      stateDir: stateDir(),
      kind: 'logical',
    });
    expect(describeSnapshot(logical.snapshot).kind).toBe('logical');
    await active.psql('update pgbench_accounts set abalance = abalance - 3 where aid > 99000');
    await active.psql('checkpoint');

    const next = await backup();
    const newest = (await listSnapshots(archive, { component: 'shop' })).map(describeSnapshot);
    expect(newest.slice(-3).map((described) => described.kind)).toEqual(['physical', 'logical', 'physical']);
    const incremental = next.manifest.details?.incremental as Record<string, number | string> | undefined;
    expect(incremental?.parent).toBe(physical.manifest.exportId);
    expect(await restoredDump(next.snapshot)).toBe(await dumpAll(active.port));
  });

  it('refuses to complete an incremental artifact against a parent that is not the newest, and the backup exports in full', async () => {
    const base = await backup();
    // An export taken without the archive's view, on a record that is no longer the newest.
    await backup();
    const stale = JSON.parse(await readFile(recordPath(stateDir(), 'shop'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      recordPath(stateDir(), 'shop'),
      JSON.stringify({ ...stale, exportId: base.manifest.exportId }),
    );
    const manifest = await recipe.export({
      component: 'shop',
      instance: { name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
      outbox,
      exportId: 'stale-1',
      stateDir: stateDir(),
      ownBackup: true,
    });
    expect((manifest.details?.incremental as { parent?: string } | undefined)?.parent).toBe(
      base.manifest.exportId,
    );
    const error = await pullArtifact({
      component: 'shop',
      config: config.components.shop!,
      exportId: 'stale-1',
      epoch: 0,
      outbox,
      archive,
      stagingDir: join(scratch.path, 'staging'),
    }).catch((e: unknown) => e);
    expect(isPipelineError(error, 'stale-parent')).toBe(true);
    expect((error as Error).message).toMatch(
      /^artifact stale-1 of shop is incremental on export .*, but the newest snapshot/,
    );
    // Nothing was archived from it; the artifact waits in the outbox.
    expect(await outbox.stat(completeName('stale-1'))).toBeDefined();
    await outbox.remove(completeName('stale-1'));

    // The one-shot backup knows the archive's newest export: on the same record it reads everything.
    await writeFile(
      recordPath(stateDir(), 'shop'),
      JSON.stringify({ ...stale, exportId: base.manifest.exportId }),
    );
    const result = await backupComponent({
      component: 'shop',
      config: config.components.shop!,
      recipe: postgresRecipe(),
      outbox,
      archive,
      stagingDir: join(scratch.path, 'staging'),
      stateDir: stateDir(),
    });
    expect(result.snapshot.tags.exportId).toBe(result.export.exportId);
    expect(result.export.details?.incremental).toBeUndefined();
  });
});
