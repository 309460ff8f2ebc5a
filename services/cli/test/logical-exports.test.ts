import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, initArchive, listProofs, listSnapshots, type Snapshot } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  quietSchedule,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { type FullStatus, parseConfig } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import { type RunningPipeline, startAll } from '@pullback/workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const execFileAsync = promisify(execFile);

/**
 * Logical exports a user asks for (docs/exports.md): a scheduled one and `export
 * --logical --now` each make a logical snapshot, proven by the pull side's drill,
 * queued onto no fallback, whose `restore --start` holds what the active holds; the
 * physical snapshots are kept by retention apart from the logical ones.
 */
const ODD = 'odd name';
const DUMPED = [ODD, 'shop'];

let redis: RedisServer;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let archive: Archive;
let configPath: string;
let running: RunningPipeline | undefined;
const auditDirs: string[] = [];

/** The config, with the logical schedule given. */
function configText(logicalSchedule: string): string {
  const root = scratch.path;
  return `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state')}
components:
  shop:
    recipe: postgres
    schedule: "${quietSchedule()}"
    retention: { keepLast: 2 }
    logical: { schedule: "${logicalSchedule}", databases: [shop, "${ODD}"] }
    wal: { enabled: false }
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 1, dataDir: ${join(root, 'b')}, priority: 50 }
  docs:
    recipe: files
    path: ${join(root, 'docs')}
    outbox: ${join(root, 'outbox-docs')}
`;
}

beforeAll(async () => {
  [redis, active, scratch] = await Promise.all([startRedis(), startPostgres(), scratchDir('cli-logical')]);
  await chmod(scratch.path, 0o755);
  await mkdir(join(scratch.path, 'docs'));
  await writeFile(join(scratch.path, 'docs', 'readme'), 'hello\n');
  await active.psql('create database shop');
  await active.psql(`create database "${ODD}"`);
  await active.psql(
    `create table orders (id int primary key, customer text not null, total numeric(10,2));
     insert into orders select i, 'customer ' || (i % 97), i * 1.25 from generate_series(1, 20000) i;
     create index on orders (customer);`,
    'shop',
  );
  await active.psql(`create table t (x int); insert into t values (1), (2)`, ODD);
  ({ archive } = await initArchive({
    archive: join(scratch.path, 'archive'),
    keyFile: join(scratch.path, 'archive.key'),
  }));
  configPath = join(scratch.path, 'pullback.yaml');
  await writeFile(configPath, configText(quietSchedule()));
});

afterAll(async () => {
  await running?.close();
  for (const dir of auditDirs) await stopServer({ dataDir: join(dir, 'pgdata') }).catch(() => {});
  await active?.stop();
  await redis?.stop();
  await scratch?.remove();
});

const cli = (args: string[]) => runCli([...args, '--config', configPath], { timeoutMs: 120_000 });

async function snapshotsOfKind(kind: string): Promise<Snapshot[]> {
  return (await listSnapshots(archive, { component: 'shop' })).filter((s) => s.tags.kind === kind);
}

/** A plain pg_dump of `database` on `host` (a socket directory or an address), without its per-run lines. */
async function plainDump(host: string, port: number, database: string): Promise<string> {
  const owner = await postgresOwner();
  const { stdout } = await execFileAsync(
    join(active.binDir, 'pg_dump'),
    ['-h', host, '-p', String(port), '-U', 'postgres', '-d', database],
    { maxBuffer: 64 * 1024 * 1024, cwd: '/', ...owner },
  );
  return stdout
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}

/** `restore <id> --start`, then the restored server's dump of each database beside the active's. */
async function expectSameAsActive(snapshotId: string): Promise<void> {
  const target = join(scratch.path, `audit-${snapshotId.slice(0, 8)}`);
  auditDirs.push(target);
  const port = await freePort();
  const result = await cli(['restore', snapshotId, '--target', target, '--start', '--port', String(port)]);
  expect(result.stderr).toBe('');
  expect(result.stdout).toContain(
    `logical dumps of ${DUMPED.join(', ')} restored into a scratch server on port ${port}`,
  );
  const socket = join(target, 'pgdata');
  const databases = (
    await execFileAsync(
      join(active.binDir, 'psql'),
      [
        '-h',
        socket,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-XAtc',
        'select datname from pg_database order by 1',
      ],
      { cwd: '/', ...(await postgresOwner()) },
    )
  ).stdout;
  // Only the databases the config names were dumped.
  expect(databases.trim().split('\n')).toEqual(['odd name', 'postgres', 'shop', 'template0', 'template1']);
  for (const database of DUMPED) {
    const restored = await plainDump(socket, port, database);
    expect(restored, `database ${database}`).toBe(await plainDump('127.0.0.1', active.port, database));
    if (database === 'shop') expect(restored).toContain('customer 42');
  }
  await stopServer({ dataDir: socket });
}

/** Waits until the archive holds a logical snapshot other than `seen`, proven by a drill, and returns it. */
async function newProvenLogical(seen: readonly string[]): Promise<Snapshot> {
  return waitFor(
    'a new logical snapshot, proven',
    async () => {
      const fresh = (await snapshotsOfKind('logical')).find((s) => !seen.includes(s.id));
      if (fresh === undefined) return undefined;
      const proof = (await listProofs(archive)).get(fresh.id);
      if (proof === undefined) return undefined;
      expect(proof).toMatchObject({ ok: true, by: expect.stringMatching(/ for pull-backup$/) });
      return fresh;
    },
    240_000,
  );
}

describe('logical exports users ask for', () => {
  it('--logical on a files component is refused in one line, by export and by backup', async () => {
    for (const args of [
      ['export', 'docs', '--logical', '--now'],
      ['backup', 'docs', '--logical'],
    ]) {
      const result = await cli(args);
      expect(result.code).toBe(1);
      expect(result.errorLines).toEqual([
        'pullback: component docs (recipe files) has no logical exports; HINT: logical exports (pg_dump) are for postgres components; leave out --logical',
      ]);
    }
    expect(await listSnapshots(archive, { component: 'docs' })).toEqual([]);
  });

  it('a scheduled logical export and export --logical --now each make a proven logical snapshot that restores to the same rows; no fallback is given one', {
    timeout: 600_000,
  }, async () => {
    // Two physical snapshots first, so that retention (keepLast 2) would drop them if it counted logical ones.
    for (let i = 0; i < 2; i++) {
      const physical = await cli(['backup', 'shop']);
      expect(physical.stderr).toBe('');
      expect(physical.stdout).toMatch(/^snapshot [0-9a-f]{12} of shop \(physical\)/);
    }
    const physical = (await snapshotsOfKind('physical')).map((s) => s.id);
    expect(physical).toHaveLength(2);

    // Once a day, 15 s from now (local time, as BullMQ reads a cron): it fires once during the test.
    const at = new Date(Date.now() + 15_000);
    const logicalSchedule = `${at.getSeconds()} ${at.getMinutes()} ${at.getHours()} * * *`;
    await writeFile(configPath, configText(logicalSchedule));
    // The default namespace, as the command line uses: this file has its own redis-server.
    running = await startAll(parseConfig(configText(logicalSchedule)), {
      roles: { export: true, pull: true, import: false, election: false },
      stagingDir: join(scratch.path, 'staging'),
      retry: { attempts: 2, backoffMs: 500 },
    });
    const { pipeline } = running;
    expect((await pipeline.exportQueue.getJobSchedulers()).map((s) => s.key).sort()).toEqual([
      'export.docs',
      'export.shop',
      'export.shop.logical',
    ]);

    const scheduled = await newProvenLogical([]);
    expect(scheduled.tags).toMatchObject({ component: 'shop', recipe: 'postgres', kind: 'logical' });
    await expectSameAsActive(scheduled.id);

    const queued = await cli(['export', 'shop', '--logical', '--now']);
    expect(queued.stderr).toBe('');
    expect(queued.stdout).toMatch(
      /^logical export of shop queued: job export-now\.shop\.logical, epoch 1\n$/,
    );
    const asked = await newProvenLogical([scheduled.id]);
    // Each kind's parent is the newest snapshot of its own kind.
    expect(asked.parent).toBe(scheduled.id);
    await expectSameAsActive(asked.id);

    // Retention kept each kind on its own: both physical snapshots are still there.
    expect((await snapshotsOfKind('physical')).map((s) => s.id)).toEqual(physical);
    expect((await snapshotsOfKind('logical')).map((s) => s.id)).toEqual([scheduled.id, asked.id]);
    // Logical snapshots go to no fallback.
    expect(await pipeline.importQueue('shop-b').count()).toBe(0);
    expect((await pipeline.registry.instance('shop-b'))?.queuedSnapshotId).toBeUndefined();

    const status = JSON.parse((await cli(['status', '--json'])).stdout) as FullStatus;
    const shop = status.components.find((c) => c.name === 'shop');
    expect(shop?.lastLogicalSnapshot).toMatchObject({ id: asked.id, kind: 'logical' });
    expect(shop?.lastSnapshot).toBeUndefined();
    expect(shop?.lastExport).toMatchObject({ ok: true, kind: 'logical' });
    expect(status.nextLogicalExports?.shop).toBeDefined();
    const text = (await cli(['status'])).stdout;
    expect(text).toMatch(/last export {4}ok \(logical\), /);
    expect(text).toMatch(new RegExp(`last logical {3}${asked.id.slice(0, 12)} .*; next scheduled in `));

    const listed = (await cli(['snapshots', '--component', 'shop'])).stdout;
    expect(listed).toMatch(/^ID +TIME +COMPONENT +KIND +FILES/m);
    expect(listed).toMatch(new RegExp(`^${asked.id.slice(0, 12)} .* shop +logical +\\d+ .* yes `, 'm'));
    expect(listed).toMatch(new RegExp(`^${physical[0]!.slice(0, 12)} .* shop +physical `, 'm'));
    const json = JSON.parse((await cli(['snapshots', '--component', 'shop', '--json'])).stdout) as {
      id: string;
      kind: string;
    }[];
    expect(json.map((s) => [s.id, s.kind])).toEqual([
      ...physical.map((id) => [id, 'physical']),
      [scheduled.id, 'logical'],
      [asked.id, 'logical'],
    ]);
  });

  it('backup --logical and backup each forget only the oldest of their own kind', {
    timeout: 300_000,
  }, async () => {
    await running?.close();
    running = undefined;
    const before = { physical: await snapshotsOfKind('physical'), logical: await snapshotsOfKind('logical') };
    expect(before.physical).toHaveLength(2);
    expect(before.logical).toHaveLength(2);

    const logical = await cli(['backup', 'shop', '--logical']);
    expect(logical.stderr).toBe('');
    expect(logical.stdout).toMatch(
      /^snapshot [0-9a-f]{12} of shop \(logical\): .*\nretention forgot 1 older snapshot\n$/,
    );
    expect((await snapshotsOfKind('physical')).map((s) => s.id)).toEqual(before.physical.map((s) => s.id));
    const logicalNow = await snapshotsOfKind('logical');
    expect(logicalNow.map((s) => s.id).slice(0, 1)).toEqual([before.logical[1]!.id]);
    expect(logicalNow).toHaveLength(2);

    const physical = await cli(['backup', 'shop']);
    expect(physical.stderr).toBe('');
    expect((await snapshotsOfKind('logical')).map((s) => s.id)).toEqual(logicalNow.map((s) => s.id));
    const physicalNow = await snapshotsOfKind('physical');
    expect(physicalNow).toHaveLength(2);
    expect(physicalNow[0]?.id).toBe(before.physical[1]!.id);

    // forget --keep-last 1: the newest of each kind stays.
    const forgot = await cli(['forget', '--keep-last', '1', '--component', 'shop']);
    expect(forgot.stderr).toBe('');
    expect(forgot.stdout).toMatch(/^shop: kept 2, forgot 2: /);
    expect((await snapshotsOfKind('physical')).map((s) => s.id)).toEqual([physicalNow[1]!.id]);
    expect((await snapshotsOfKind('logical')).map((s) => s.id)).toEqual([logicalNow[1]!.id]);
  });
});
