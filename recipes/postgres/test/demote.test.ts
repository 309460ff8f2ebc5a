import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, startPostgres } from '@pullback/harness';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  closePools,
  demoteServer,
  type PgEndpoint,
  postmasterStatus,
  query,
  refuseWrites,
  serverAccount,
  startStandby,
  stopServer,
} from '../src/index.js';

let server: PostgresServer;
let endpoint: PgEndpoint;

beforeEach(async () => {
  server = await startPostgres();
  endpoint = { host: server.socketDir, port: server.port };
  await server.psql('create table orders (id int)');
});

afterEach(async () => {
  await closePools();
  await stopServer({ dataDir: server.dataDir }).catch(() => {});
  await server.stop();
});

/** A client session in the middle of a write transaction, as an application holds one. */
async function sessionMidWrite(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.connectionString() });
  client.on('error', () => {});
  await client.connect();
  await client.query('begin');
  await client.query('insert into orders values (1)');
  return client;
}

const writeError = () =>
  server.psql('insert into orders values (2)').then(
    () => undefined,
    (error: Error & { stderr?: string }) => error.stderr ?? error.message,
  );

describe('demoting a server', () => {
  it('refuses writes at once: new transactions are read-only and sessions mid-write are ended', async () => {
    const client = await sessionMidWrite();
    await refuseWrites({ dataDir: server.dataDir, endpoint });

    // Ended: the driver reports it as the termination, or as the connection error it saw first.
    await expect(client.query('insert into orders values (3)')).rejects.toThrow(/terminat|connection error/);
    await expect(client.query('commit')).rejects.toThrow();
    expect(await writeError()).toMatch(/cannot execute INSERT in a read-only transaction/);
    // Still running, and reading.
    expect(await server.psql('select count(*) from orders')).toBe('0');
    expect((await postmasterStatus(server.dataDir)).running).toBe(true);
  });

  it('then stops it; a write fails, and the read-only setting does not outlive the shutdown', async () => {
    const client = await sessionMidWrite();
    expect(await demoteServer({ dataDir: server.dataDir, endpoint })).toBe(true);

    expect((await postmasterStatus(server.dataDir)).running).toBe(false);
    await expect(client.query('commit')).rejects.toThrow();
    expect(await writeError()).toMatch(/connection|No such file|refused/i);
    const autoConf = await readFile(join(server.dataDir, 'postgresql.auto.conf'), 'utf8');
    expect(autoConf).not.toMatch(/default_transaction_read_only/);
    expect(await demoteServer({ dataDir: server.dataDir, endpoint })).toBe(false);
  });

  it('stops a server it cannot ask to refuse writes all the same', async () => {
    const nowhere: PgEndpoint = { host: join(server.dataDir, '..', 'no-socket-here'), port: server.port };
    await expect(refuseWrites({ dataDir: server.dataDir, endpoint: nowhere })).rejects.toThrow();
    expect(await demoteServer({ dataDir: server.dataDir, endpoint: nowhere })).toBe(true);
    expect((await postmasterStatus(server.dataDir)).running).toBe(false);
  });

  it('leaves a server that is started again as a standby, then promoted, taking writes', async () => {
    // Slots of its days as the active: a standby would keep the WAL they hold back.
    for (const slot of ['pullback_shop', 'pullback_export_shop', 'kept_by_user']) {
      await server.psql(`select pg_create_physical_replication_slot('${slot}', true)`);
    }
    await demoteServer({ dataDir: server.dataDir, endpoint });
    await startStandby({
      dataDir: server.dataDir,
      port: server.port,
      listenAddresses: '127.0.0.1',
      socketDir: server.socketDir,
      logFile: join(server.dataDir, '..', 'standby.log'),
      timeoutSeconds: 120,
    });
    const as = await serverAccount();
    expect(await query(endpoint, 'show default_transaction_read_only', { as })).toBe('off');
    expect(await query(endpoint, 'select pg_is_in_recovery()', { as })).toBe('t');
    expect(
      await query(endpoint, 'select string_agg(slot_name, $$,$$) from pg_replication_slots', { as }),
    ).toBe('kept_by_user');
    expect(await query(endpoint, 'select pg_promote(true, 60)', { as })).toBe('t');
    await query(endpoint, 'insert into orders values (4)', { as });
    expect(await query(endpoint, 'select count(*) from orders', { as })).toBe('1');
  });

  it('and a standby start clears the setting a demotion interrupted before its clean-up left', async () => {
    await refuseWrites({ dataDir: server.dataDir, endpoint });
    // The agent dies here: the server stops without the clean-up.
    await stopServer({ dataDir: server.dataDir });
    expect(await readFile(join(server.dataDir, 'postgresql.auto.conf'), 'utf8')).toMatch(
      /default_transaction_read_only/,
    );
    await startStandby({
      dataDir: server.dataDir,
      port: server.port,
      listenAddresses: '127.0.0.1',
      socketDir: server.socketDir,
      logFile: join(server.dataDir, '..', 'standby.log'),
      timeoutSeconds: 120,
    });
    const as = await serverAccount();
    expect(await query(endpoint, 'show default_transaction_read_only', { as })).toBe('off');
  });
});
