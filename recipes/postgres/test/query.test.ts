import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type PostgresServer, startPostgres } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePools, query, queryJson, serverAccount } from '../src/index.js';

const execFileAsync = promisify(execFile);

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await closePools();
  await server?.stop();
});

const tcp = () => ({ host: '127.0.0.1', port: server.port });
const socket = () => ({ host: server.socketDir, port: server.port });

const sleeping = async () =>
  (await server.psql(`select count(*) from pg_stat_activity where query like 'select pg_sleep(%'`)) !== '0';

describe('queries go through the driver, one pooled session per server', () => {
  it('answers as psql printed: text values, columns joined by |, NULL as nothing; over TCP and the Unix socket', async () => {
    for (const endpoint of [tcp(), socket()]) {
      expect(await query(endpoint, 'select pg_is_in_recovery()')).toBe('f');
      expect(await query(endpoint, `select 1, 'a', null::text union all select 2, 'b', 'c' order by 1`)).toBe(
        '1|a|\n2|b|c',
      );
      expect(await queryJson(endpoint, `select json_build_object('n', 1)`)).toEqual({ n: 1 });
    }
    // Several statements: each one's rows in turn, as psql -c prints them.
    expect(await query(tcp(), 'select 1; select 2')).toBe('1\n2');
  });

  it("surfaces a server error's SQLSTATE, message and detail as fields", async () => {
    await expect(query(tcp(), 'select * from no_such_table')).rejects.toMatchObject({
      code: '42P01',
      serverMessage: 'relation "no_such_table" does not exist',
      message: expect.stringMatching(/^query on 127\.0\.0\.1:\d+ failed: relation "no_such_table"/),
    });
    await query(tcp(), 'create table if not exists unique_probe (id int primary key); truncate unique_probe');
    await query(tcp(), 'insert into unique_probe values (1)');
    await expect(query(tcp(), 'insert into unique_probe values (1)')).rejects.toMatchObject({
      code: '23505',
      detail: 'Key (id)=(1) already exists.',
    });
    // The failed session is not reused in a broken state.
    expect(await query(tcp(), 'select count(*) from unique_probe')).toBe('1');
  });

  it('enforces the statement timeout on the server (SQLSTATE 57014)', async () => {
    const started = Date.now();
    await expect(query(tcp(), 'select pg_sleep(30)', { statementTimeoutMs: 200 })).rejects.toMatchObject({
      code: '57014',
    });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('an aborted query rejects at once with the reason, and its session is not reused', async () => {
    const stop = new AbortController();
    const settled = query(tcp(), 'select pg_sleep(60)', { signal: stop.signal }).catch(
      (error: unknown) => error,
    );
    await expect.poll(sleeping, { timeout: 60_000 }).toBe(true);
    const started = Date.now();
    stop.abort(new Error('stopped by the test'));
    expect(await settled).toMatchObject({ message: 'stopped by the test' });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await query(tcp(), 'select 3')).toBe('3');
  });

  it('an idle pool does not keep a process alive', async () => {
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `import { query } from ${JSON.stringify(index)};
      console.log(await query({ host: '127.0.0.1', port: ${server.port} }, 'select 42'));`;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe('42');
  });
});

describe('a local socket with peer authentication', () => {
  let peer: PostgresServer;

  beforeAll(async () => {
    peer = await startPostgres();
    await writeFile(
      join(peer.dataDir, 'pg_hba.conf'),
      'local all all peer\nhost all all 127.0.0.1/32 trust\n',
    );
    await peer.psql('select pg_reload_conf()');
  });

  afterAll(async () => {
    await closePools();
    await peer?.stop();
  });

  it.runIf(process.getuid?.() === 0)(
    "is refused to the driver as root (28000), and answered as the server's account",
    async () => {
      const endpoint = { host: peer.socketDir, port: peer.port };
      // The reload takes effect asynchronously: wait until the socket refuses root.
      await expect
        .poll(
          () =>
            query(endpoint, 'select 1').then(
              () => undefined,
              (error: { code?: string }) => error.code,
            ),
          {
            timeout: 30_000,
          },
        )
        .toBe('28000');
      const account = await serverAccount();
      expect(await query(endpoint, 'select current_user', { as: account })).toBe('postgres');
      expect(await query(endpoint, 'select 2', { as: account })).toBe('2');
    },
  );
});
