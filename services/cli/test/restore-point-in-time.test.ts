import { execFile } from 'node:child_process';
import { access, chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type Archive,
  listSnapshots,
  listWal,
  openArchive,
  recordProof,
  walObjectName,
} from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  type S3Server,
  scratchDir,
  startPostgres,
  startS3,
  waitFor,
} from '@pullback/harness';
import { stopServer } from '@pullback/recipe-postgres';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { archiveCompletedWal } from './wal-fixture.js';

const execFileAsync = promisify(execFile);
const RESTORE_MS = 240_000;

/**
 * Point-in-time restore (docs/wal.md): two marker rows with the clock past a moment
 * between them; restores to that moment, to an LSN, a restore point and the first
 * row's transaction each show exactly the first row. Targets out of reach are refused
 * in one line before anything is written; a promoted restore gets its own timeline.
 */
describe.each(['fs', 's3'] as const)('restore to a point in time on the %s driver', (driver) => {
  let active: PostgresServer;
  let s3: S3Server | undefined;
  let scratch: { path: string; remove(): Promise<void> };
  let work: string;
  let config: string;
  let env: NodeJS.ProcessEnv;
  let backend: Backend;
  let archive: Archive;
  let stream: string;
  const started: string[] = [];
  /** The server the promotion test left running on timeline 2, for the timeline test. */
  let promoted: Awaited<ReturnType<typeof restoreTo>> | undefined;
  const marks = {} as {
    beforeBackup: string;
    between: string;
    lsn: string;
    xid: string;
    third: string;
    thirdSegment: string;
    afterThird: string;
    afterFourth: string;
  };

  /** The active's clock, to the millisecond (what --at carries), strictly after every commit so far. */
  async function momentAfterCommits(): Promise<string> {
    const now = Date.parse(
      await active.psql(
        'select to_char(clock_timestamp() at time zone \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')',
      ),
    );
    const moment = new Date(now + 1).toISOString();
    // The next commit must be after the moment: wait until the server's clock is past it.
    await waitFor('the clock to pass the moment', async () =>
      Date.parse(
        await active.psql(
          'select to_char(clock_timestamp() at time zone \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')',
        ),
      ) >
      Date.parse(moment) + 1
        ? true
        : undefined,
    );
    return moment;
  }

  beforeAll(async () => {
    scratch = await scratchDir('cli-pitr');
    work = scratch.path;
    // The server's account must reach the restored data directories inside it.
    await chmod(work, 0o755);
    let url: string;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['cli-pitr'] });
      env = s3.env;
      url = 's3://cli-pitr/history';
      backend = openBackend(url, {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    } else {
      env = {};
      url = join(work, 'archive');
      backend = openBackend(url);
    }
    active = await startPostgres();
    config = join(work, 'pullback.yaml');
    await writeFile(
      config,
      `redis: redis://127.0.0.1:1
archive: { url: ${url}, keyFile: ${join(work, 'key')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(work, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
`,
    );
    expect((await runCli(['archive', 'init', '--config', config], { env })).code).toBe(0);
    archive = await openArchive({ archive: backend, keyFile: join(work, 'key') });
    await active.psql('create table marks (id serial primary key, note text)');
    marks.beforeBackup = await momentAfterCommits();
    const backup = await runCli(['backup', 'shop', '--config', config], { env, timeoutMs: 120_000 });
    expect(backup.stderr).toBe('');

    marks.xid = await active.psql(
      "insert into marks (note) values ('first') returning pg_current_xact_id()::text",
    );
    marks.lsn = await active.psql('select pg_current_wal_insert_lsn()::text');
    const point = await runCli(['restore-point', 'shop', 'between', '--config', config], { env });
    expect(point.stderr).toBe('');
    expect(point.stdout).toMatch(/^restore point between on shop-a at [0-9A-F]+\/[0-9A-F]+\n$/);
    marks.between = await momentAfterCommits();
    await active.psql("insert into marks (note) values ('second')");
    await active.psql('select pg_switch_wal()');
    // Archived step by step, so each segment's receive times say when it was complete.
    await archiveCompletedWal(active, archive, 'shop');
    marks.thirdSegment = await active.psql(
      "insert into marks (note) values ('third') returning pg_walfile_name(pg_current_wal_insert_lsn())",
    );
    await active.psql('select pg_switch_wal()');
    await archiveCompletedWal(active, archive, 'shop');
    marks.afterThird = await momentAfterCommits();
    await active.psql("insert into marks (note) values ('fourth')");
    marks.afterFourth = await momentAfterCommits();
    await active.psql('select pg_switch_wal()');
    stream = await archiveCompletedWal(active, archive, 'shop');
  }, 300_000);

  afterAll(async () => {
    for (const dataDir of started) await stopServer({ dataDir }).catch(() => {});
    await active?.stop();
    await s3?.stop();
    await scratch?.remove();
  });

  /** Restores to `target`, started on a free port; returns the notes it holds and the server's port. */
  async function restoreTo(name: string, target: string[], extra: string[] = []) {
    const dir = join(work, name);
    const port = await freePort();
    const result = await runCli(
      [
        'restore',
        '--component',
        'shop',
        ...target,
        '--target',
        dir,
        '--start',
        '--port',
        String(port),
        ...extra,
        '--config',
        config,
      ],
      { env, timeoutMs: RESTORE_MS },
    );
    started.push(dir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const psql = async (sql: string) =>
      (
        await execFileAsync(join(active.binDir, 'psql'), [
          '-X',
          '-A',
          '-t',
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-c',
          sql,
        ])
      ).stdout.trim();
    return {
      dir,
      port,
      stdout: result.stdout,
      psql,
      notes: await psql("select string_agg(note, ',' order by id) from marks"),
    };
  }

  it('--at a moment between two rows shows exactly the first, paused read-only', {
    timeout: RESTORE_MS,
  }, async () => {
    const restored = await restoreTo('at', ['--at', marks.between]);
    expect(restored.notes).toBe('first');
    expect(restored.stdout).toMatch(/is paused there, read-only, on port/);
    expect(await restored.psql('select pg_get_wal_replay_pause_state()')).toBe('paused');
    await stopServer({ dataDir: restored.dir });
  });

  it('--lsn taken between the rows shows exactly the first, over the previous restore with --delta', {
    timeout: RESTORE_MS,
  }, async () => {
    const restored = await restoreTo('at', ['--lsn', marks.lsn], ['--delta']);
    expect(restored.notes).toBe('first');
    await stopServer({ dataDir: restored.dir });
  });

  it('--name of a restore point made between the rows shows exactly the first', {
    timeout: RESTORE_MS,
  }, async () => {
    const restored = await restoreTo('name', ['--name', 'between']);
    expect(restored.notes).toBe('first');
    await stopServer({ dataDir: restored.dir });
  });

  it("--xid of the first row's transaction stops once it committed", { timeout: RESTORE_MS }, async () => {
    const restored = await restoreTo('xid', ['--xid', marks.xid]);
    expect(restored.notes).toBe('first');
    await stopServer({ dataDir: restored.dir });
  });

  it("a target past the archive's end is refused in one line, writing nothing", {
    timeout: RESTORE_MS,
  }, async () => {
    const dir = join(work, 'past');
    const later = new Date(Date.now() + 3600_000).toISOString();
    const result = await runCli(
      ['restore', '--component', 'shop', '--at', later, '--target', dir, '--config', config],
      { env, timeoutMs: RESTORE_MS },
    );
    expect(result.code).toBe(1);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      /^pullback: time .* of shop cannot be reached: it is past the archive's end; the archive can restore shop to \S+ \S+ \([0-9A-F]+\/[0-9A-F]+\) to \S+ \S+ \([0-9A-F]+\/[0-9A-F]+\)$/,
    );
    await expect(access(dir)).rejects.toThrow();
  });

  it('a target before the oldest snapshot is refused in one line, writing nothing', {
    timeout: RESTORE_MS,
  }, async () => {
    const dir = join(work, 'before');
    const result = await runCli(
      ['restore', '--component', 'shop', '--at', marks.beforeBackup, '--target', dir, '--config', config],
      { env, timeoutMs: RESTORE_MS },
    );
    expect(result.code).toBe(1);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      /cannot be reached: it is before the oldest snapshot; the archive can restore shop to /,
    );
    await expect(access(dir)).rejects.toThrow();
  });

  it('promoted at a restore point, it writes on a new timeline of its own and the archive is untouched', {
    timeout: RESTORE_MS,
  }, async () => {
    const before = await listWal(archive, stream);
    const restored = await restoreTo('promoted', ['--name', 'between'], ['--promote']);
    expect(restored.notes).toBe('first');
    expect(restored.stdout).toMatch(/was promoted: writable on timeline 2/);
    await restored.psql("insert into marks (note) values ('after promotion')");
    expect(await restored.psql('select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)')).toBe(
      '00000002',
    );
    expect(await readdir(join(restored.dir, 'pg_wal'))).toContain('00000002.history');
    // The archive holds the original stream's WAL as it was: nothing of the new timeline.
    expect(await listWal(archive, stream)).toEqual(before);
    promoted = restored;
  });

  it('--at a moment after the last commit the archive holds stops at the end of its WAL', {
    timeout: RESTORE_MS,
  }, async () => {
    const restored = await restoreTo('after-last', ['--at', marks.afterFourth]);
    expect(restored.notes).toBe('first,second,third,fourth');
    expect(await restored.psql('select pg_get_wal_replay_pause_state()')).toBe('paused');
    await stopServer({ dataDir: restored.dir });
  });

  it('snapshots shows the range restorable to, from which snapshot, and its proof', {
    timeout: RESTORE_MS,
  }, async () => {
    const [snapshot] = await listSnapshots(archive, { component: 'shop' });
    const proof = { at: '2026-12-06T03:00:00.000Z', by: 'shop-b', ok: true };
    await recordProof(archive, snapshot!.id, proof);
    const text = await runCli(['snapshots', '--config', config], { env });
    expect(text.stderr).toBe('');
    const ranges = text.stdout.split('\n').filter((line) => line.startsWith('shop: '));
    expect(ranges).toEqual([
      expect.stringMatching(
        /^shop: restorable to any moment from \S+ \S+ \(0\/[0-9A-F]+\) to \S+ \S+ \(0\/[0-9A-F]+\)$/,
      ),
    ]);
    expect(text.stdout).toMatch(/^ID +TIME +COMPONENT +KIND +FILES +SIZE +NEW +PROVEN +SOURCE$/m);
    expect(text.stdout).toMatch(/^[0-9a-f]{12} .* physical .* yes 2026-12-06 03:00:00Z +export /m);
    const json = JSON.parse((await runCli(['snapshots', '--json', '--config', config], { env })).stdout) as {
      time: string;
      proof: unknown;
      pointInTime: { from: { time: string; lsn: string }; to: { time: string; lsn: string } } | null;
    }[];
    expect(json).toHaveLength(1);
    expect(json[0]!.proof).toEqual(proof);
    expect(json[0]!.pointInTime?.from.time).toBe(json[0]!.time);
    expect(Date.parse(json[0]!.pointInTime!.to.time)).toBeGreaterThan(Date.parse(marks.afterThird));
  });

  // Last: it deletes a segment from the archive.
  it('a target inside a deleted segment is refused in one line', { timeout: RESTORE_MS }, async () => {
    await backend.remove(walObjectName(stream, marks.thirdSegment));
    const dir = join(work, 'gap');
    const result = await runCli(
      ['restore', '--component', 'shop', '--at', marks.afterThird, '--target', dir, '--config', config],
      { env, timeoutMs: RESTORE_MS },
    );
    expect(result.code).toBe(1);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      /cannot be reached: it is inside a gap in the archive's WAL; the archive can restore shop to /,
    );
    await expect(access(dir)).rejects.toThrow();
    const listed = await runCli(['snapshots', '--config', config], { env });
    expect(listed.stdout).toMatch(
      /^shop: WAL gap, nothing can be restored from \S+ \S+ \(0\/[0-9A-F]+\) to \S+ \S+ \(0\/[0-9A-F]+\)$/m,
    );
  });

  // After the gap test: timeline 1's WAL beyond the switch is not on timeline 2's path.
  it('follows the history file onto a new timeline, as after an activation', {
    timeout: RESTORE_MS,
  }, async () => {
    // The promoted server plays a new active of the same system: its WAL joins the stream.
    const server = { dataDir: promoted!.dir, psql: promoted!.psql };
    await promoted!.psql('select pg_switch_wal()');
    const moment = new Date(Date.now() + 1).toISOString();
    await waitFor('the clock to pass the moment', async () =>
      Date.now() > Date.parse(moment) + 1 ? true : undefined,
    );
    await promoted!.psql("insert into marks (note) values ('later on timeline 2')");
    await promoted!.psql('select pg_switch_wal()');
    await archiveCompletedWal(server, archive, 'shop');
    await stopServer({ dataDir: promoted!.dir });
    expect((await listWal(archive, stream)).map((o) => o.name)).toContain('00000002.history');

    const restored = await restoreTo('timeline-2', ['--at', moment]);
    expect(restored.notes).toBe('first,after promotion');
    await stopServer({ dataDir: restored.dir });
  });
});
