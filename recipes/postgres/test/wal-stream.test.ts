import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, scratchDir, startPostgres, waitFor } from '@pullback/harness';
import type { WalStream } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { closePools, postgresRecipe } from '../src/index.js';

let server: PostgresServer;

beforeAll(async () => {
  // A slot may hold back at most 1 MB beyond max_wal_size: small enough to lose it in a test.
  server = await startPostgres({
    settings: { max_slot_wal_keep_size: "'1MB'", max_wal_size: "'32MB'", min_wal_size: "'32MB'" },
  });
});

afterAll(async () => {
  await closePools();
  await server?.stop();
});

const waitLong = <T>(what: string, check: () => Promise<T | undefined>) => waitFor(what, check, 120_000);

async function openStream(label: string, options: { synchronous?: boolean; slot?: string } = {}) {
  const spool = await scratchDir(label);
  const stream: WalStream = postgresRecipe().streamWal!({
    component: 'shop',
    instance: { name: 'shop-a', host: '127.0.0.1', port: server.port, dataDir: server.dataDir },
    slot: options.slot ?? 'pullback_shop',
    synchronous: options.synchronous ?? false,
    spoolDir: spool.path,
  });
  onTestFinished(async () => {
    await stream.stop();
    await spool.remove();
  });
  return { stream, spool: spool.path };
}

/** Whether some WAL file in the spool holds `marker` (short text is stored as is in WAL). */
async function spoolHolds(spool: string, marker: string): Promise<boolean> {
  for (const name of await readdir(spool)) {
    if (/^[0-9A-F]{24}(\.partial)?$/.test(name) && (await readFile(join(spool, name))).includes(marker))
      return true;
  }
  return false;
}

describe('the postgres recipe streams WAL with pg_receivewal', () => {
  it('creates the slot, streams a committed row into the spool within seconds, and reports the slot and the stream', async () => {
    const { stream, spool } = await openStream('wal-stream');
    const start = await stream.prepare();
    expect(start.systemIdentifier).toBe(
      await server.psql('select system_identifier from pg_control_system()'),
    );
    expect(start.segmentSize).toBe(16 * 1024 * 1024);
    expect(start.restartedAt).toBeUndefined();
    expect(
      await server.psql(`select slot_type from pg_replication_slots where slot_name = 'pullback_shop'`),
    ).toBe('physical');
    const receiving = stream.receive();
    const marker = `marker-${Date.now()}`;
    await server.psql(`create table if not exists notes (text text); insert into notes values ('${marker}')`);
    await waitLong('the row in the spool', async () => (await spoolHolds(spool, marker)) || undefined);
    const status = await waitLong('the receiver streaming', async () => {
      const now = await stream.status();
      return now.replication?.state === 'streaming' ? now : undefined;
    });
    expect(status).toMatchObject({ inRecovery: false, slotStatus: 'reserved', maxSlotWalKeepSize: '1MB' });
    expect(status.replication?.syncState).toBe('async');
    expect(status.slotRetainedBytes).toBeGreaterThanOrEqual(0);
    expect(status.exportSlot).toBeUndefined();
    // The export agent's own slot (its incremental exports) holds WAL back too: shown beside.
    await server.psql(`select pg_create_physical_replication_slot('pullback_export_shop', true)`);
    onTestFinished(() =>
      server.psql(`select pg_drop_replication_slot('pullback_export_shop')`).then(() => {}),
    );
    await server.psql(`insert into notes select 'filler ' || g from generate_series(1, 20000) g`);
    const withExport = await stream.status();
    expect(withExport.exportSlot).toMatchObject({ name: 'pullback_export_shop', status: 'reserved' });
    expect(withExport.exportSlot?.retainedBytes).toBeGreaterThan(0);
    await stream.stop();
    await expect(receiving).resolves.toBeUndefined();
  });

  it('synchronous mode names the receiver in synchronous_standby_names; asynchronous mode takes back only its own name', async () => {
    const { stream } = await openStream('wal-sync', { slot: 'pullback_sync' });
    await stream.prepare();
    // Asynchronous: nothing named.
    expect(await server.psql('show synchronous_standby_names')).toBe('');
    const sync = (await openStream('wal-sync-2', { synchronous: true, slot: 'pullback_sync' })).stream;
    await sync.prepare();
    await waitLong(
      'the setting',
      async () => (await server.psql('show synchronous_standby_names')) === '"pullback_shop"' || undefined,
    );
    const receiving = sync.receive();
    const status = await waitLong('a synchronous standby', async () => {
      const now = await sync.status();
      return now.replication?.syncState === 'sync' ? now : undefined;
    });
    expect(status.replication?.state).toBe('streaming');
    await server.psql(`create table if not exists sync_notes (n int); insert into sync_notes values (1)`);
    await sync.stop();
    await receiving;
    // Asynchronous again: the receiver's own setting goes.
    const again = (await openStream('wal-async', { slot: 'pullback_sync' })).stream;
    await again.prepare();
    await waitLong(
      'the setting reset',
      async () => (await server.psql('show synchronous_standby_names')) === '' || undefined,
    );
    // An operator's own setting is neither changed by an asynchronous receiver nor taken over by a synchronous one.
    await server.psql(`alter system set synchronous_standby_names = 'other'`);
    await server.psql('select pg_reload_conf()');
    await waitLong(
      'the operator setting',
      async () => (await server.psql('show synchronous_standby_names')) === 'other' || undefined,
    );
    await again.prepare();
    expect(
      await server.psql(`select setting from pg_settings where name = 'synchronous_standby_names'`),
    ).toBe('other');
    await expect(
      (await openStream('wal-sync-3', { synchronous: true, slot: 'pullback_sync' })).stream.prepare(),
    ).rejects.toThrow(
      /synchronous_standby_names on 127\.0\.0\.1:\d+ is "other": it does not name the wal receiver "pullback_shop"/,
    );
    await server.psql('alter system reset synchronous_standby_names');
    await server.psql('select pg_reload_conf()');
  });

  it('a slot PostgreSQL invalidated is created again at the current position, the spool partial removed, and the restart reported', async () => {
    const { stream, spool } = await openStream('wal-lost', { slot: 'pullback_lost' });
    await stream.prepare();
    const receiving = stream.receive();
    await waitLong(
      'a partial in the spool',
      async () => (await readdir(spool)).some((name) => name.endsWith('.partial')) || undefined,
    );
    await stream.stop();
    await receiving;
    const streamed = await server.psql('select pg_current_wal_lsn()');
    // With the receiver down, WAL beyond max_slot_wal_keep_size and checkpoints invalidate the slot.
    await waitLong('the slot lost', async () => {
      await server.psql(
        `create table if not exists filler (b text); insert into filler select repeat('x', 1000) from generate_series(1, 20000); select pg_switch_wal(); checkpoint`,
      );
      return (await server.psql(
        `select wal_status from pg_replication_slots where slot_name = 'pullback_lost'`,
      )) === 'lost'
        ? true
        : undefined;
    });
    const again = (await openStream('wal-lost-2', { slot: 'pullback_lost' })).stream;
    const restarted = await postgresRecipe().streamWal!({
      component: 'shop',
      instance: { host: '127.0.0.1', port: server.port, dataDir: server.dataDir },
      slot: 'pullback_lost',
      synchronous: false,
      spoolDir: spool,
    }).prepare();
    expect(restarted.restartedAt?.cause).toBe('slot-lost');
    expect(
      await server.psql(`select pg_wal_lsn_diff('${restarted.restartedAt?.lsn}', '${streamed}') > 0`),
    ).toBe('t');
    expect(
      await server.psql(`select wal_status from pg_replication_slots where slot_name = 'pullback_lost'`),
    ).toBe('reserved');
    expect((await readdir(spool)).filter((name) => name.endsWith('.partial'))).toEqual([]);
    await again.stop();
  });
});
