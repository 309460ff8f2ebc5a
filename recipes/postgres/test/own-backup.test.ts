import { execFile } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PAGE_SIZE, pageChecksum, pageHeader } from '@pullback/archive';
import { freePort, type PostgresServer, scratchDir, waitFor } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecipe, query } from '../src/index.js';
import { extractTar } from './helpers/extract-tar.js';
import { outboxNames } from './helpers/outbox-names.js';
import { serverDir, stableDump } from './helpers/servers.js';
import { pgbenchServer } from './helpers/shop-sandbox.js';

const execFileAsync = promisify(execFile);

let active: PostgresServer;
let outboxDir: { path: string; remove(): Promise<void> };
let outbox: Backend;

beforeAll(async () => {
  active = await pgbenchServer(2);
  outboxDir = await scratchDir('outbox');
  outbox = openBackend(outboxDir.path);
});

afterAll(async () => {
  await active?.stop();
  await outboxDir?.remove();
});

const instance = () => ({ name: 'shop-a', host: '127.0.0.1', port: active.port, dataDir: active.dataDir });

/** The pages of a relation file as the server wrote them, each as aligned 32-bit words. */
async function pagesOf(file: string): Promise<Uint32Array[]> {
  const bytes = await readFile(file);
  const copy = new Uint8Array(bytes).buffer;
  return Array.from(
    { length: bytes.length / PAGE_SIZE },
    (_, i) => new Uint32Array(copy, i * PAGE_SIZE, PAGE_SIZE / 4),
  );
}

async function pgDump(port: number): Promise<string> {
  const { stdout } = await execFileAsync(
    join(active.binDir, 'pg_dump'),
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '--no-sync', 'postgres'],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return stableDump(stdout);
}

describe("the agent's own backup", () => {
  it('computes the checksum PostgreSQL wrote on every page of a real relation', async () => {
    await active.psql('checkpoint');
    const file = join(active.dataDir, await active.psql(`select pg_relation_filepath('pgbench_accounts')`));
    const pages = await pagesOf(file);
    expect(pages.length).toBeGreaterThan(100);
    for (const [block, words] of pages.entries()) {
      expect(pageHeader(words).isNew).toBe(false);
      expect(pageChecksum(words, block)).toBe(pageHeader(words).checksum);
    }
    // Another block number, or one byte changed, gives another checksum.
    const first = pages[0]!;
    expect(pageChecksum(first, 1)).not.toBe(pageHeader(first).checksum);
    first[1000] = first[1000]! ^ 0x100;
    expect(pageChecksum(first, 0)).not.toBe(pageHeader(first).checksum);
  });

  it('backs up the active while it is written to; the copy replays to the same data, amcheck clean', async () => {
    const recipe = postgresRecipe({ ownBackup: true, readers: 3 });
    const load = execFileAsync(join(active.binDir, 'pgbench'), [
      '-c',
      '2',
      '-t',
      '300',
      '-d',
      active.connectionString(),
    ]);
    const warnings: string[] = [];
    const manifest = await recipe.export({
      component: 'shop',
      instance: instance(),
      outbox,
      exportId: 'own1',
      onWarning: (message) => warnings.push(message),
    });
    await load;
    expect(warnings).toEqual([]);
    expect(await outboxNames(outbox, 'own1/')).toEqual([
      'own1/COMPLETE',
      'own1/data-0.tar',
      'own1/data-1.tar',
      'own1/data-2.tar',
      'own1/finish.tar',
    ]);
    expect(manifest.details).toMatchObject({ method: 'own', dataChecksums: true, corruptPages: [] });
    expect(manifest.server?.systemIdentifier).toBe(
      await active.psql('select system_identifier from pg_control_system()'),
    );
    // The backup is over on the server, its slot gone with its session; with no state
    // directory there is no record for a next export, so no export slot keeps WAL for one.
    expect(await active.psql('select count(*) from pg_replication_slots')).toBe('0');

    const fallback = await serverDir('own-fallback');
    try {
      const names: string[] = [];
      for (const object of manifest.objects)
        names.push(...(await extractTar(await outbox.load(object.name), fallback.dataDir)));
      expect(names).toContain('backup_label');
      expect(names).not.toContain('postmaster.pid');
      expect(names.some((name) => /^pg_wal\/[0-9A-F]{24}$/.test(name))).toBe(true);
      const standby = {
        name: 'shop-b',
        host: '127.0.0.1',
        port: await freePort(),
        dataDir: fallback.dataDir,
      };
      const importer = postgresRecipe({ socketDir: fallback.socketDir });
      const target = {
        component: 'shop',
        instance: standby,
        upstream: { host: '127.0.0.1', port: active.port },
      };
      await importer.afterRestore?.(target);
      // Caught up with the active (quiet now): the same rows, and every index matches its table.
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
      await importer.beforeRestore?.(target);
    } finally {
      await fallback.remove();
      for (const name of await outboxNames(outbox)) await outbox.remove(name);
    }
  });

  it('reports a page whose checksum is wrong, with its file and block, and still completes', async () => {
    await active.psql(
      'create table damaged as select g, repeat($$x$$, 500) as filler from generate_series(1, 2000) g',
    );
    await active.psql('checkpoint');
    const relative = await active.psql(`select pg_relation_filepath('damaged')`);
    const handle = await open(join(active.dataDir, relative), 'r+');
    try {
      // A byte in the tuples of block 3, not in its header.
      await handle.write(Buffer.from([0x5a]), 0, 1, 3 * PAGE_SIZE + 4000);
    } finally {
      await handle.close();
    }
    try {
      const manifest = await postgresRecipe({ ownBackup: true }).export({
        component: 'shop',
        instance: instance(),
        outbox,
        exportId: 'own2',
      });
      expect(manifest.details?.corruptPages).toEqual([{ file: relative, block: 3 }]);
    } finally {
      for (const name of await outboxNames(outbox)) await outbox.remove(name);
      await active.psql('drop table damaged');
    }
  });

  it("takes pg_basebackup instead when the data directory here is not the server's", async () => {
    const elsewhere = await scratchDir('not-the-data-dir');
    try {
      const warnings: string[] = [];
      const manifest = await postgresRecipe({ ownBackup: true }).export({
        component: 'shop',
        instance: { ...instance(), dataDir: elsewhere.path },
        outbox,
        exportId: 'own3',
        onWarning: (message) => warnings.push(message),
      });
      expect(manifest.objects.map((object) => object.name)).toEqual(['own3/base.tar']);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^export own3: pg_basebackup instead of the agent's own backup: .*pg_control cannot be read here \(ENOENT\)$/,
        ),
      ]);
    } finally {
      await elsewhere.remove();
      for (const name of await outboxNames(outbox)) await outbox.remove(name);
    }
  });

  it("takes its own backup where possible as a pipeline's default asks, and pg_basebackup quietly where it cannot", async () => {
    const elsewhere = await scratchDir('not-the-data-dir');
    try {
      const warnings: string[] = [];
      const recipe = postgresRecipe();
      const own = await recipe.export({
        component: 'shop',
        instance: instance(),
        outbox,
        exportId: 'own4',
        ownBackup: 'where-possible',
        onWarning: (message) => warnings.push(message),
      });
      expect(own.objects.map((object) => object.name)).not.toContain('own4/base.tar');
      expect(own.objects.map((object) => object.name)).toContain('own4/finish.tar');
      const streamed = await recipe.export({
        component: 'shop',
        instance: { ...instance(), dataDir: elsewhere.path },
        outbox,
        exportId: 'own5',
        ownBackup: 'where-possible',
        onWarning: (message) => warnings.push(message),
      });
      expect(streamed.objects.map((object) => object.name)).toEqual(['own5/base.tar']);
      expect(warnings).toEqual([]);
    } finally {
      await elsewhere.remove();
      for (const name of await outboxNames(outbox)) await outbox.remove(name);
    }
  });
});
