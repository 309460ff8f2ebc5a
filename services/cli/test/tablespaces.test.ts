import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { access, chmod, chown, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
} from '@pullback/harness';
import type { FullStatus } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './run-cli.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
let fallbackPort: number;
let up: ChildProcess | undefined;
const dataDirs: string[] = [];

/** A directory PostgreSQL may use as a tablespace location (its server runs as postgres). */
async function postgresDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const owner = await postgresOwner();
  if (owner) await chown(path, owner.uid, owner.gid);
  return path;
}

const at = (...parts: string[]) => join(scratch.path, ...parts);
const cli = (args: string[], timeoutMs = 120_000) => runCli([...args, '--config', configPath], { timeoutMs });

/** pg_dump of the shop database on `port`: the rows, and each table's and index's tablespace. */
async function dumpOf(port: number): Promise<string> {
  const { stdout } = await execFileAsync(
    join(active.binDir, 'pg_dump'),
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '--no-sync', 'shop'],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  // pg_dump's \restrict lines carry a random key each run.
  return stdout.replace(/^\\(un)?restrict .*$/gm, '');
}

async function oidOf(name: string): Promise<string> {
  return active.psql(`select oid from pg_tablespace where spcname = '${name}'`);
}

/** SQL in the shop database of the server on `port`; the last statement's rows. */
async function shopSql(port: number, sql: string): Promise<string> {
  const { stdout } = await execFileAsync(join(active.binDir, 'psql'), [
    ...['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'shop'],
    ...['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-Atc', sql],
  ]);
  return stdout.trim();
}

/** Every file under `dir` (relative path) with its SHA-256. */
async function contentsOf(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path)] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  return files;
}

/** `restore latest --start` with mappings; the server it started is stopped at the end. */
async function restoreAndStart(target: string, mappings: readonly string[], extra: string[] = []) {
  dataDirs.push(target);
  const port = await freePort();
  const result = await cli([
    'restore',
    'latest',
    '--component',
    'shop',
    '--target',
    target,
    ...mappings.flatMap((mapping) => ['--tablespace-map', mapping]),
    ...extra,
    '--start',
    '--port',
    String(port),
  ]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return port;
}

beforeAll(async () => {
  [redis, active, scratch] = await Promise.all([
    startRedis(),
    startPostgres(),
    scratchDir('cli-tablespaces'),
  ]);
  await chmod(scratch.path, 0o755);
  const socketDir = await postgresDir(at('socket'));
  await chmod(socketDir, 0o755);
  await postgresDir(at('ts1'));
  await active.psql('create database shop');
  await active.psql(`create tablespace ts1 location '${at('ts1')}'`);
  await shopSql(
    active.port,
    `create table items (id int primary key using index tablespace ts1, name text) tablespace ts1;
     insert into items select i, 'item ' || i from generate_series(1, 5000) i;
     create index items_name on items (name) tablespace ts1;
     create table plain (note text); insert into plain values ('in pg_default')`,
  );
  fallbackPort = await freePort();
  configPath = at('pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: ${at('archive')}, keyFile: ${at('archive.key')} }
stateDir: ${at('state')}
components:
  shop:
    recipe: postgres
    outbox: ${at('outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - name: shop-b
        role: fallback
        host: 127.0.0.1
        port: ${fallbackPort}
        dataDir: ${at('b')}
        priority: 50
        tablespaces: { "${at('ts1')}": "${at('b-ts1')}" }
`,
  );
  expect((await runCli(['archive', 'init', '--config', configPath])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  up?.kill('SIGKILL');
  for (const dataDir of [at('b'), ...dataDirs]) await stopServer({ dataDir }).catch(() => {});
  await active?.stop();
  await redis?.stop();
  await scratch?.remove();
});

describe('a cluster with tablespaces', () => {
  it('backup carries the tablespace; restore --tablespace-map puts it where asked; the server shows the same rows', {
    timeout: 240_000,
  }, async () => {
    const backup = await cli(['backup', 'shop']);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const target = at('restored');
    const port = await restoreAndStart(target, [`${at('ts1')}=${at('restored-ts1')}`]);
    const oid = await oidOf('ts1');
    expect(await readlink(join(target, 'pg_tblspc', oid))).toBe(at('restored-ts1'));
    expect((await readdir(at('restored-ts1')))[0]).toMatch(/^PG_\d+_\d+$/);
    expect(await dumpOf(port)).toBe(await dumpOf(active.port));
    // The index in the tablespace is used and sound.
    expect(await shopSql(port, `set enable_seqscan = off; select name from items where id = 4321`)).toBe(
      'item 4321',
    );
  });

  it('refuses a tablespace location that is not empty, in one line, writing nothing', {
    timeout: 120_000,
  }, async () => {
    // Without a mapping the tablespace would go where it was: the active's, in use.
    const target = at('refused');
    const result = await cli(['restore', 'latest', '--component', 'shop', '--target', target]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([
      `pullback: tablespace ${await oidOf('ts1')} cannot be restored at ${at('ts1')}: it is not empty; ` +
        'HINT: empty it, or restore the tablespace elsewhere with --tablespace-map OLD=NEW',
    ]);
    await expect(access(target)).rejects.toThrow(/ENOENT/);
    const malformed = await cli(['restore', 'latest', '--target', target, '--tablespace-map', 'ts1=/x']);
    expect(malformed.code).toBe(2);
    expect(malformed.errorLines).toHaveLength(1);
    expect(malformed.errorLines[0]).toContain('expected OLD=NEW, both absolute paths');
    await expect(access(target)).rejects.toThrow(/ENOENT/);
  });

  it('delta restore over the earlier one puts the tablespace back as a fresh restore does', {
    timeout: 240_000,
  }, async () => {
    const target = at('restored');
    // The audit server ran on it: its files moved on from the snapshot's.
    await stopServer({ dataDir: target });
    const version = (await readdir(at('restored-ts1')))[0]!;
    await writeFile(join(at('restored-ts1'), version, 'not-in-the-snapshot'), 'extra');
    const delta = await cli([
      'restore',
      'latest',
      '--component',
      'shop',
      '--target',
      target,
      '--delta',
      '--tablespace-map',
      `${at('ts1')}=${at('restored-ts1')}`,
    ]);
    expect(delta.stderr).toBe('');
    expect(delta.stdout).toMatch(/already in place, [1-9]\d* removed/);
    const fresh = await cli([
      'restore',
      'latest',
      '--component',
      'shop',
      '--target',
      at('fresh'),
      '--tablespace-map',
      `${at('ts1')}=${at('fresh-ts1')}`,
    ]);
    expect(fresh.stderr).toBe('');
    expect(await contentsOf(at('restored-ts1'))).toEqual(await contentsOf(at('fresh-ts1')));
    expect(await readlink(join(target, 'pg_tblspc', await oidOf('ts1')))).toBe(at('restored-ts1'));
    expect(await readFile(join(target, 'tablespace_map'), 'utf8')).toBe(
      `${await oidOf('ts1')} ${at('restored-ts1')}\n`,
    );
  });

  it("an import puts the tablespace at the fallback's configured location; it runs as a hot standby with the rows", {
    timeout: 300_000,
  }, async () => {
    let output = '';
    up = spawn(process.execPath, [MAIN, 'up', '--config', configPath], {
      env: { ...process.env, PULLBACK_PG_SOCKET_DIR: at('socket') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    up.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    for (let waited = 0; !output.includes('running; stop with Ctrl-C'); waited += 100) {
      if (waited > 60_000 || up.exitCode !== null) throw new Error(`up did not start: ${output}`);
      await sleep(100);
    }
    const queued = await cli(['export', 'shop', '--now']);
    expect(queued.stderr).toBe('');
    let healthy = false;
    for (const deadline = Date.now() + 240_000; !healthy && Date.now() < deadline; await sleep(500)) {
      const status = await cli(['status', '--json']);
      const shop = (JSON.parse(status.stdout) as FullStatus).components.find((c) => c.name === 'shop');
      const b = shop?.instances.find((i) => i.name === 'shop-b');
      healthy = b?.atLastSnapshot === true && b.state?.healthy === true;
    }
    expect(healthy, output).toBe(true);
    expect(await readlink(join(at('b'), 'pg_tblspc', await oidOf('ts1')))).toBe(at('b-ts1'));
    expect(await shopSql(fallbackPort, 'select pg_is_in_recovery()')).toBe('t');
    expect(await shopSql(fallbackPort, 'select count(*) from items')).toBe('5000');
    const exited = once(up, 'exit');
    up.kill('SIGTERM');
    await exited;
    up = undefined;
  });

  it('a tablespace created and one dropped between two snapshots come out right', {
    timeout: 240_000,
  }, async () => {
    const dropped = await oidOf('ts1');
    await postgresDir(at('ts2'));
    await active.psql(`create tablespace ts2 location '${at('ts2')}'`);
    await shopSql(
      active.port,
      `create table later (id int primary key using index tablespace ts2) tablespace ts2;
       insert into later select generate_series(1, 300);
       alter table items set tablespace pg_default; alter index items_pkey set tablespace pg_default;
       alter index items_name set tablespace pg_default`,
    );
    await active.psql('drop tablespace ts1');
    const backup = await cli(['backup', 'shop']);
    expect(backup.stderr).toBe('');
    const target = at('second');
    const port = await restoreAndStart(target, [`${at('ts2')}=${at('second-ts2')}`]);
    expect(await readdir(join(target, 'pg_tblspc'))).toEqual([await oidOf('ts2')]);
    expect(await readlink(join(target, 'pg_tblspc', await oidOf('ts2')))).toBe(at('second-ts2'));
    expect(await readdir(join(target, 'pg_tblspc'))).not.toContain(dropped);
    expect(await dumpOf(port)).toBe(await dumpOf(active.port));
  });
});
