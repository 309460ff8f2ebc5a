import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type PostgresServer, postgresOwner, startPostgres, waitFor } from '@pullback/harness';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closePools,
  type PgEndpoint,
  promoteServer,
  query,
  rewindServer,
  startStandby,
  stopServer,
} from '../src/index.js';
import { serverDir } from './helpers/servers.js';

/*
 * docs/election.md "Timelines": an activation at epoch E promotes its candidate onto a
 * timeline of at least E, so that two standbys promoted one after the other from the
 * same timeline (the first fenced before its history file reached anyone) never share
 * one, and the first can be rewound against the second.
 */

const execFileAsync = promisify(execFile);

interface Standby {
  readonly dataDir: string;
  readonly port: number;
  readonly endpoint: PgEndpoint;
  readonly socketDir: string;
}

let primary: PostgresServer | undefined;
const dirs: Awaited<ReturnType<typeof serverDir>>[] = [];

afterEach(async () => {
  await closePools();
  for (const dir of dirs.splice(0)) {
    await stopServer({ dataDir: dir.dataDir }).catch(() => {});
    await dir.remove();
  }
  await primary?.stop();
  primary = undefined;
});

async function standbyOf(server: PostgresServer, label: string): Promise<Standby> {
  const dir = await serverDir(label);
  dirs.push(dir);
  const owner = await postgresOwner();
  await execFileAsync(
    join(server.binDir, 'pg_basebackup'),
    ['-D', dir.dataDir, '-d', server.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: dir.path },
  );
  const port = await freePort();
  await startStandby({
    dataDir: dir.dataDir,
    port,
    listenAddresses: '127.0.0.1',
    socketDir: dir.socketDir,
    primary: { host: '127.0.0.1', port: server.port },
    timeoutSeconds: 120,
  });
  return { dataDir: dir.dataDir, port, endpoint: { host: '127.0.0.1', port }, socketDir: dir.socketDir };
}

const timeline = async (endpoint: PgEndpoint) => {
  await query(endpoint, 'checkpoint');
  return Number(await query(endpoint, 'select timeline_id from pg_control_checkpoint()'));
};

describe('promoting at an epoch (timelineFloor)', () => {
  it('takes a timeline of at least the epoch, and none below its own', async () => {
    primary = await startPostgres();
    const b = await standbyOf(primary, 'floor-b');
    await promoteServer({ dataDir: b.dataDir, timelineFloor: 5 });
    expect(await timeline(b.endpoint)).toBe(5);
    expect(await query(b.endpoint, 'select pg_is_in_recovery()')).toBe('f');

    // A floor at or under the next timeline changes nothing.
    const c = await standbyOf(primary, 'floor-c');
    await promoteServer({ dataDir: c.dataDir, timelineFloor: 2 });
    expect(await timeline(c.endpoint)).toBe(2);
  });

  it('two activations of one timeline, the first fenced at once: the first is rewound against the second and follows it', async () => {
    primary = await startPostgres({ settings: { wal_keep_size: '256MB' } });
    await primary.psql("create table orders (id int, origin text); insert into orders values (1, 'before')");
    const b = await standbyOf(primary, 'twice-b');
    const c = await standbyOf(primary, 'twice-c');
    for (const standby of [b, c]) {
      await waitFor('the standby to have replayed the primary', async () =>
        (await query(standby.endpoint, 'select count(*) from orders').catch(() => '')) === '1'
          ? true
          : undefined,
      );
    }
    await primary.crash();
    // Epoch 2: b takes writes for a moment, then is fenced (its history file reached nobody).
    await promoteServer({ dataDir: b.dataDir, timelineFloor: 2 });
    await query(b.endpoint, "insert into orders values (2, 'b, fenced after')");
    await stopServer({ dataDir: b.dataDir });
    // Epoch 3: c, from the same timeline.
    await promoteServer({ dataDir: c.dataDir, timelineFloor: 3 });
    await query(c.endpoint, "insert into orders values (3, 'c, the active')");
    expect(await timeline(c.endpoint)).toBe(3);

    await rewindServer({
      dataDir: b.dataDir,
      port: b.port,
      listenAddresses: '127.0.0.1',
      socketDir: b.socketDir,
      primary: c.endpoint,
      timeoutSeconds: 120,
    });
    await query(c.endpoint, "insert into orders values (4, 'c, after the rewind')");
    await waitFor('b to replay c', async () =>
      (await query(b.endpoint, 'select count(*) from orders where id = 4').catch(() => '')) === '1'
        ? true
        : undefined,
    );
    expect(await query(b.endpoint, 'select origin from orders order by id')).toBe(
      'before\nc, the active\nc, after the rewind',
    );
    expect(await query(b.endpoint, 'select pg_is_in_recovery(), sender_port from pg_stat_wal_receiver')).toBe(
      `t|${c.port}`,
    );
  });
});
