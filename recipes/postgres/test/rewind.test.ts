import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type PostgresServer, postgresOwner, startPostgres, waitFor } from '@pullback/harness';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closePools,
  type PgEndpoint,
  PgQueryError,
  postmasterStatus,
  promoteServer,
  query,
  RewindSourceUnavailableError,
  rewindServer,
  startStandby,
  stopServer,
} from '../src/index.js';
import { serverDir } from './helpers/servers.js';

const execFileAsync = promisify(execFile);

/** A: the old active, a harness cluster (data checksums on). B: its standby, promoted. */
let a: PostgresServer;
let b: { dataDir: string; port: number; endpoint: PgEndpoint };
let bDir: Awaited<ReturnType<typeof serverDir>>;

/**
 * pg_rewind reads A's WAL back to the last checkpoint before the fork, which A's own
 * checkpoints after it (its shutdown's included) recycle unless kept.
 */
const KEEP_WAL = { wal_keep_size: '256MB' };

async function pair(settings: Record<string, string> = KEEP_WAL): Promise<void> {
  a = await startPostgres({ settings });
  await a.psql("create table orders (id int, origin text); insert into orders values (1, 'before')");
  bDir = await serverDir('rewind-b');
  const owner = await postgresOwner();
  await execFileAsync(
    join(a.binDir, 'pg_basebackup'),
    ['-D', bDir.dataDir, '-d', a.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: bDir.path },
  );
  const port = await freePort();
  await startStandby({
    dataDir: bDir.dataDir,
    port,
    listenAddresses: '127.0.0.1',
    socketDir: bDir.socketDir,
    primary: { host: '127.0.0.1', port: a.port },
    timeoutSeconds: 120,
  });
  b = { dataDir: bDir.dataDir, port, endpoint: { host: '127.0.0.1', port } };
}

afterEach(async () => {
  await closePools();
  if (a === undefined) return;
  await stopServer({ dataDir: a.dataDir }).catch(() => {});
  await stopServer({ dataDir: bDir.dataDir }).catch(() => {});
  await a.stop();
  await bDir.remove();
  a = undefined as unknown as PostgresServer;
});

const aEndpoint = (): PgEndpoint => ({ host: '127.0.0.1', port: a.port });

/** B takes over; A, not told, takes writes of its own after the fork. */
async function diverge(): Promise<void> {
  await waitFor('B to have replayed A', async () =>
    (await query(b.endpoint, 'select count(*) from orders').catch(() => '')) === '1' ? true : undefined,
  );
  await promoteServer({ dataDir: b.dataDir });
  await query(b.endpoint, "insert into orders values (2, 'b after the promotion')");
  await a.psql("insert into orders select g, 'a diverged' from generate_series(100, 199) g");
}

async function rewindA() {
  return rewindServer({
    dataDir: a.dataDir,
    port: a.port,
    listenAddresses: '127.0.0.1',
    socketDir: join(a.dataDir, '..', 'socket'),
    primary: b.endpoint,
    timeoutSeconds: 120,
  });
}

/** A is a read-only standby of B: B's rows, none of its own diverged ones, streaming from B. */
async function expectStandbyOfB(): Promise<void> {
  expect(await query(aEndpoint(), 'select pg_is_in_recovery()')).toBe('t');
  const refused = await query(aEndpoint(), "insert into orders values (3, 'a again')").then(
    () => undefined,
    (error: Error) => error,
  );
  expect(refused).toBeInstanceOf(PgQueryError);
  expect((refused as PgQueryError).code).toBe('25006');
  await query(b.endpoint, "insert into orders values (4, 'b after the rewind')");
  await waitFor('A to replay B after the rewind', async () =>
    (await query(aEndpoint(), 'select count(*) from orders where id = 4')) === '1' ? true : undefined,
  );
  expect(await query(aEndpoint(), 'select origin from orders order by id')).toBe(
    'before\nb after the promotion\nb after the rewind',
  );
  await waitFor('A to stream from B', async () =>
    (await query(aEndpoint(), 'select status, sender_port from pg_stat_wal_receiver')) ===
    `streaming|${b.port}`
      ? true
      : undefined,
  );
}

describe('rewinding a former active (pg_rewind)', () => {
  it('brings an active stopped cleanly after it diverged back as a streaming standby of the new active', async () => {
    await pair();
    await diverge();
    await stopServer({ dataDir: a.dataDir });

    const position = await rewindA();

    expect(position.inRecovery).toBe(true);
    await access(join(a.dataDir, 'standby.signal'));
    await expectStandbyOfB();
  });

  it('brings one killed with SIGKILL back too (pg_rewind runs its crash recovery first)', async () => {
    await pair();
    await diverge();
    await a.crash();
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);

    await rewindA();

    await expectStandbyOfB();
  });

  it('leaves the target untouched while the new active is still in recovery (not promoted yet): a later try', async () => {
    await pair();
    await a.psql("insert into orders values (5, 'a before its stop')");
    await stopServer({ dataDir: a.dataDir });
    const error = await rewindA().then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error).toBeInstanceOf(RewindSourceUnavailableError);
    expect(error?.message).toBe(
      `127.0.0.1:${b.port} is still in recovery (not promoted yet): not rewound against it`,
    );
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    await expect(access(join(a.dataDir, 'standby.signal'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a data directory whose server runs, and changes nothing', async () => {
    await pair();
    await diverge();
    await expect(rewindA()).rejects.toThrow(
      `a server is running on ${a.dataDir}; stop it before rewinding it`,
    );
    expect(await query(aEndpoint(), 'select pg_is_in_recovery()')).toBe('f');
  });

  it('fails in one line when the WAL back to the fork is gone (no wal_keep_size), and leaves A unstarted', async () => {
    await pair({});
    await diverge();
    // A's checkpoints after the fork recycle the segment of the last common checkpoint.
    await a.psql('checkpoint');
    await stopServer({ dataDir: a.dataDir });
    const error = await rewindA().then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).toMatch(/^pg_rewind of .* failed \(exit 1\): .*could not (open|find)/);
    expect(error?.message).not.toContain('\n');
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
  });

  it('fails in one line against an unrelated cluster, and leaves the target unstarted', async () => {
    await pair();
    const unrelated = await startPostgres();
    try {
      await stopServer({ dataDir: a.dataDir });
      const error = await rewindServer({
        dataDir: a.dataDir,
        port: a.port,
        listenAddresses: '127.0.0.1',
        socketDir: join(a.dataDir, '..', 'socket'),
        primary: { host: '127.0.0.1', port: unrelated.port },
        timeoutSeconds: 120,
      }).then(
        () => undefined,
        (failure: Error) => failure,
      );
      expect(error?.message).toMatch(/^pg_rewind of .* failed \(exit 1\): .*different systems/);
      expect(error?.message).not.toContain('\n');
      expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    } finally {
      await unrelated.stop();
    }
  });
});
