import { execFile } from 'node:child_process';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import {
  freePort,
  type PostgresServer,
  scratchDir,
  startPostgres,
  startS3,
  waitFor,
} from '@pullback/harness';
import { type ArtifactManifest, completeName, RecipeError } from '@pullback/pipeline';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecipe, postmasterStatus, query } from '../src/index.js';
import { extractTar } from './helpers/extract-tar.js';
import { faultyOutbox } from './helpers/faulty-outbox.js';
import { loadBytes, outboxNames } from './helpers/outbox-names.js';
import { serverDir } from './helpers/servers.js';

const execFileAsync = promisify(execFile);

let active: PostgresServer;
let outboxDir: { path: string; remove(): Promise<void> };
let outbox: Backend;

beforeAll(async () => {
  active = await startPostgres();
  await execFileAsync(join(active.binDir, 'pgbench'), [
    '-i',
    '-s',
    '1',
    '-q',
    '-d',
    active.connectionString(),
  ]);
  await active.psql('create table marker (status text); insert into marker values ($$before export$$)');
  outboxDir = await scratchDir('outbox');
  outbox = openBackend(outboxDir.path);
});

afterAll(async () => {
  await active?.stop();
  await outboxDir?.remove();
});

const instanceOf = (server: PostgresServer) => ({
  name: 'shop-a',
  host: '127.0.0.1',
  port: server.port,
  dataDir: server.dataDir,
});

async function blake3Of(backend: Backend, name: string): Promise<string> {
  const hash = new Blake3Hasher();
  for await (const chunk of await backend.load(name)) hash.update(chunk as Buffer);
  return hash.digestBuffer().toString('hex');
}

/** The outbox holds nothing, not even a temp file of an interrupted save. */
async function expectEmptyOutbox(): Promise<void> {
  expect(await outboxNames(outbox)).toEqual([]);
  expect(await readdir(join(outboxDir.path, '.tmp')).catch(() => [])).toEqual([]);
}

describe('physical export', () => {
  it('exports the active, restores it as a read-only hot standby that shows the marker and follows the active', async () => {
    const recipe = postgresRecipe();
    const started = Date.now();
    const progress: number[] = [];
    const manifest = await recipe.export({
      component: 'shop',
      instance: instanceOf(active),
      outbox,
      exportId: 'e1',
      onProgress: (p) => progress.push(p.bytesDone),
    });
    const exportMs = Date.now() - started;

    expect(await outboxNames(outbox, 'e1/')).toEqual(['e1/COMPLETE', 'e1/base.tar']);
    const stored = JSON.parse((await loadBytes(outbox, completeName('e1'))).toString()) as ArtifactManifest;
    expect(stored).toEqual(manifest);
    expect(manifest).toMatchObject({ format: 'pullback-artifact/1', recipe: 'postgres', kind: 'physical' });
    const [object] = manifest.objects;
    expect(object?.name).toBe('e1/base.tar');
    expect(object?.size).toBe((await outbox.stat('e1/base.tar')).size);
    expect(object?.blake3).toBe(await blake3Of(outbox, 'e1/base.tar'));
    expect(manifest.server?.systemIdentifier).toBe(
      await active.psql('select system_identifier from pg_control_system()'),
    );
    expect(manifest.server?.timeline).toBe(1);
    expect(manifest.server?.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(progress.at(-1)).toBe(object?.size);

    // The import side: stop what runs, restore the files (here: extract the tar), start.
    const fallback = await serverDir('fallback');
    try {
      const instance = {
        name: 'shop-b',
        host: '127.0.0.1',
        port: await freePort(),
        dataDir: fallback.dataDir,
      };
      const importer = postgresRecipe({ socketDir: fallback.socketDir });
      const target = {
        component: 'shop',
        instance,
        manifest,
        upstream: { host: '127.0.0.1', port: active.port },
      };
      await importer.beforeRestore?.(target);
      await extractTar(await outbox.load('e1/base.tar'), fallback.dataDir);
      const restoredAt = Date.now();
      const position = await importer.afterRestore?.(target);
      const startMs = Date.now() - restoredAt;
      expect(position).toMatchObject({ running: true, inRecovery: true });

      const standby = { host: '127.0.0.1', port: instance.port };
      expect(await query(standby, 'select status from marker')).toBe('before export');
      await expect(query(standby, `insert into marker values ('on the standby')`)).rejects.toThrow(
        'cannot execute INSERT in a read-only transaction',
      );
      // primary_conninfo: a row written on the active after the export streams over.
      await active.psql(`insert into marker values ('after export')`);
      let rows = '';
      for (let i = 0; i < 100 && !rows.includes('after export'); i++) {
        rows = await query(standby, 'select string_agg(status, $$,$$ order by status) from marker');
        if (!rows.includes('after export')) await sleep(100);
      }
      expect(rows).toBe('after export,before export');
      expect(await importer.position?.(instance)).toMatchObject({ running: true, inRecovery: true });
      // Where its WAL comes from, on which timeline, of which system, and how far behind the active.
      const systemIdentifier = manifest.server?.systemIdentifier;
      const followed = await waitFor('the standby to report streaming', async () => {
        const now = await importer.position?.(instance, {
          upstream: { host: '127.0.0.1', port: active.port },
        });
        return now?.source === 'streaming' ? now : undefined;
      });
      expect(followed).toMatchObject({ timeline: 1, systemIdentifier });
      expect(followed.behindBytes).toBeGreaterThanOrEqual(0);

      // A fallback that runs is stopped before its data directory is rewritten.
      await importer.beforeRestore?.(target);
      expect((await postmasterStatus(fallback.dataDir)).running).toBe(false);
      expect(await importer.position?.(instance)).toEqual({
        running: false,
        source: 'none',
        systemIdentifier: manifest.server?.systemIdentifier,
      });
      console.log(
        `physical: export of ${object?.size} bytes ${exportMs} ms; verify + configure + start as standby ${startMs} ms`,
      );
    } finally {
      await postgresRecipe().beforeRestore?.({
        component: 'shop',
        instance: { host: '127.0.0.1', port: 1, dataDir: fallback.dataDir },
      });
      await fallback.remove();
    }
  });

  it('returns an artifact that is already complete as it is', async () => {
    const again = await postgresRecipe().export({
      component: 'shop',
      instance: instanceOf(active),
      outbox,
      exportId: 'e1',
    });
    const stored = JSON.parse((await loadBytes(outbox, 'e1/COMPLETE')).toString()) as ArtifactManifest;
    expect(again.finishedAt).toBe(stored.finishedAt);
    for (const name of await outboxNames(outbox)) await outbox.remove(name);
  });

  it('fails with one line and leaves nothing when the active is down', async () => {
    const error = await postgresRecipe()
      .export({
        component: 'shop',
        instance: { ...instanceOf(active), port: await freePort() },
        outbox,
        exportId: 'e2',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecipeError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^export e2 of shop: connecting to 127\.0\.0\.1:\d+ failed: connection refused/i);
    await expectEmptyOutbox();
  });

  it('fails and leaves nothing when pg_basebackup dies mid-stream', async () => {
    let terminated: Promise<string> | undefined;
    const slow = faultyOutbox(outbox, {
      delayMs: 5,
      onBytes: (bytes) => {
        // Cut the replication connection once the tar is well under way.
        if (bytes > 1024 * 1024 && terminated === undefined) {
          terminated = active.psql(
            `select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'walsender'`,
          );
        }
      },
    });
    const error = await postgresRecipe()
      .export({ component: 'shop', instance: instanceOf(active), outbox: slow, exportId: 'e3' })
      .catch((e: unknown) => e);
    await terminated;
    expect(error).toBeInstanceOf(RecipeError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^export e3 of shop: pg_basebackup from 127\.0\.0\.1:\d+ failed \(exit 1\): /);
    await expectEmptyOutbox();
  });

  it('fails, stops pg_basebackup and leaves nothing when the outbox fails', async () => {
    const broken = faultyOutbox(outbox, { failAfterBytes: 2 * 1024 * 1024 });
    await expect(
      postgresRecipe().export({
        component: 'shop',
        instance: instanceOf(active),
        outbox: broken,
        exportId: 'e4',
      }),
    ).rejects.toThrow(/^export e4 of shop: injected outbox failure after \d+ bytes$/);
    await expectEmptyOutbox();
    // The killed pg_basebackup's walsender goes away.
    let senders = '1';
    for (let i = 0; i < 50 && senders !== '0'; i++) {
      senders = await active.psql(`select count(*) from pg_stat_activity where backend_type = 'walsender'`);
      if (senders !== '0') await sleep(100);
    }
    expect(senders).toBe('0');
  });

  it('refuses to start a fallback whose restored files do not match the backup manifest', async () => {
    await postgresRecipe().export({
      component: 'shop',
      instance: instanceOf(active),
      outbox,
      exportId: 'c1',
    });
    const fallback = await serverDir('fallback');
    try {
      await extractTar(await outbox.load('c1/base.tar'), fallback.dataDir);
      // Same size, different bytes: only the manifest's checksum can tell.
      const file = join(
        fallback.dataDir,
        await active.psql(`select pg_relation_filepath('pgbench_accounts')`),
      );
      const handle = await open(file, 'r+');
      await handle.write(Buffer.from('corrupt!'), 0, 8, 8192 * 10 + 100);
      await handle.close();
      const instance = {
        name: 'shop-c',
        host: '127.0.0.1',
        port: await freePort(),
        dataDir: fallback.dataDir,
      };
      const error = await postgresRecipe({ socketDir: fallback.socketDir })
        .afterRestore?.({ component: 'shop', instance })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RecipeError);
      expect((error as Error).message).toMatch(
        /^fallback shop-c of shop: pg_verifybackup of .* failed .*checksum mismatch/,
      );
      expect((error as Error).message).not.toContain('\n');
      expect((await postmasterStatus(fallback.dataDir)).running).toBe(false);
    } finally {
      await fallback.remove();
      for (const name of await outboxNames(outbox)) await outbox.remove(name);
    }
  });

  it('stops pg_basebackup and leaves nothing when aborted', async () => {
    const controller = new AbortController();
    const slow = faultyOutbox(outbox, {
      delayMs: 5,
      onBytes: (bytes) => {
        if (bytes > 1024 * 1024) controller.abort(new Error('export cancelled'));
      },
    });
    await expect(
      postgresRecipe().export({
        component: 'shop',
        instance: instanceOf(active),
        outbox: slow,
        exportId: 'a1',
        signal: controller.signal,
      }),
    ).rejects.toThrow('export cancelled');
    await expectEmptyOutbox();
  });

  it('exports into an S3 outbox', async () => {
    const s3 = await startS3({ buckets: ['outbox'] });
    const saved = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      const bucket = openBackend('s3://outbox/shop');
      const manifest = await postgresRecipe().export({
        component: 'shop',
        instance: instanceOf(active),
        outbox: bucket,
        exportId: 's1',
      });
      expect(await outboxNames(bucket)).toEqual(['s1/COMPLETE', 's1/base.tar']);
      expect(manifest.objects[0]?.blake3).toBe(await blake3Of(bucket, 's1/base.tar'));
    } finally {
      process.env = saved;
      await s3.stop();
    }
  });
});
