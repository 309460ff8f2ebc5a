import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listProofs, listWal, walStreamName } from '@pullback/archive';
import { type RedisServer, startRedis } from '@pullback/harness';
import { type FallbackState, parseConfig } from '@pullback/pipeline';
import { postmasterStatus, query, startServer, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPipeline } from '../src/index.js';
import { shopCluster, startInWorld, testWorld, waitLong } from './e2e-fixtures.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

type Pipeline = RunningPipeline['pipeline'];

const stateOf = async (pipeline: Pipeline, instance: string): Promise<FallbackState | undefined> =>
  (await pipeline.registry.instance(instance))?.state;

/** Asks for an export now and waits until every fallback is healthy at the snapshot it made. */
async function cycle(pipeline: Pipeline, previous: string | undefined, fallbacks: number): Promise<string> {
  await pipeline.exportNow('shop');
  return waitLong('the fallbacks at the new snapshot', async () => {
    const component = (await pipeline.readStatus()).components.find((c) => c.name === 'shop');
    const last = component?.lastSnapshot?.id;
    if (last === undefined || last === previous) return undefined;
    const states = component?.instances.filter((i) => i.role === 'fallback') ?? [];
    return states.length === fallbacks && states.every((i) => i.atLastSnapshot && i.state?.healthy)
      ? last
      : undefined;
  });
}

describe('fallbacks follow the active and fall back on the archive', () => {
  it('an hourly import leaves streaming fallbacks running, one drill proves the snapshot, and a fallback stopped under load catches up from the archive, then streams again', async () => {
    const world = await testWorld('e2e-fallback-wal');
    const { active, fallbacks, yaml } = await shopCluster(world, {
      fallbacks: 2,
      // Recycles what a stopped fallback needs as soon as it can (the receiver's slot holds only what it has not read).
      settings: { wal_keep_size: '0', max_wal_size: "'32MB'", min_wal_size: "'32MB'" },
      // pg_basebackup: the agent's own export keeps a slot that holds the WAL since the
      // previous export on the active (docs/exports.md), which would keep what the
      // stopped fallback needs there until the next export.
      ownBackup: false,
    });
    const systemIdentifier = await active.psql('select system_identifier from pg_control_system()');
    const stream = walStreamName('shop', systemIdentifier);
    // The WAL receiver of the pull side streams the active's WAL into the archive; its spool is this test's.
    const config = parseConfig(`
redis: ${redis.url}
archive: ${world.archiveYaml}
stateDir: ${join(world.root, 'state')}
components:${yaml}`);
    const { pipeline } = await startInWorld(world, config);

    const first = await cycle(pipeline, undefined, 2);
    const [b, c] = fallbacks as [(typeof fallbacks)[number], (typeof fallbacks)[number]];
    await waitLong('both fallbacks streaming', async () => {
      const states = await Promise.all(['shop-b', 'shop-c'].map((name) => stateOf(pipeline, name)));
      return states.every((state) => state?.source === 'streaming') ? true : undefined;
    });
    const pids = await Promise.all([b, c].map(async (f) => (await postmasterStatus(f.dataDir)).pid));

    // A write on the active reaches both fallbacks within seconds, with no export.
    const exportsBefore = (await pipeline.registry.component('shop'))?.lastExport?.exportId;
    await active.psql(`update marker set status = 'streamed, not exported'`);
    const writtenAt = Date.now();
    await waitLong('the write on both fallbacks', async () => {
      const seen = await Promise.all(
        [b, c].map((f) => query({ host: '127.0.0.1', port: f.port }, 'select status from marker')),
      );
      return seen.every((status) => status === 'streamed, not exported') ? true : undefined;
    });
    expect(Date.now() - writtenAt).toBeLessThan(15_000);
    expect((await pipeline.registry.component('shop'))?.lastExport?.exportId).toBe(exportsBefore);

    // shop-b as a fallback set up before its agent served archived WAL: no restore_command.
    const autoConf = join(b.dataDir, 'postgresql.auto.conf');
    const conf = await readFile(autoConf, 'utf8');
    expect(conf).toContain('pullback-spool');
    await writeFile(autoConf, conf.replace(/^restore_command = .*$/m, "restore_command = ''"));
    await query({ host: '127.0.0.1', port: b.port }, 'select pg_reload_conf()');
    await waitLong('shop-b without restore_command', async () =>
      (await query({ host: '127.0.0.1', port: b.port }, 'show restore_command')) === '' ? true : undefined,
    );

    // The next snapshot: recorded on both, neither rewound, proven by one drill.
    await active.psql(`update marker set status = 'second'`);
    const second = await cycle(pipeline, first, 2);
    expect(await Promise.all([b, c].map(async (f) => (await postmasterStatus(f.dataDir)).pid))).toEqual(pids);
    const results = await waitLong('both imports of the second snapshot done', async () => {
      const done = (
        await Promise.all(['shop-b', 'shop-c'].map((name) => pipeline.importQueue(name).getCompleted()))
      )
        .flat()
        .filter((job) => job.data.snapshotId === second);
      return done.length === 2 ? done.map((job) => job.returnvalue) : undefined;
    });
    expect(results.map((result) => result.followed)).toEqual([true, true]);
    expect(results.map((result) => result.drill).sort()).toEqual(['claimed', 'ok']);
    expect((await listProofs(world.archive)).get(second)).toMatchObject({ ok: true });
    expect((await pipeline.registry.snapshotHealth('shop'))[second]).toMatchObject({ state: 'good' });
    for (const f of [b, c]) {
      expect(await query({ host: '127.0.0.1', port: f.port }, 'select status from marker')).toBe('second');
    }
    // The import told shop-b, running, of the spool again.
    await waitLong('shop-b with the spool restore_command', async () =>
      (await query({ host: '127.0.0.1', port: b.port }, 'show restore_command')).includes('pullback-spool')
        ? true
        : undefined,
    );

    // shop-c goes down; the active writes on and recycles the WAL it would need.
    const before = (await stateOf(pipeline, 'shop-c'))?.lsn;
    expect(before).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    await stopServer({ dataDir: c.dataDir });
    const needed = await active.psql(`select pg_walfile_name('${before}')`);
    await execFileAsync(join(active.binDir, 'pgbench'), [
      '-c',
      '2',
      '-T',
      '15',
      '-n',
      active.connectionString(),
    ]);
    await active.psql(`update marker set status = 'while shop-c was down'`);
    for (let round = 0; round < 4; round++) await active.psql('select pg_switch_wal(); checkpoint');
    await waitLong('the active to have recycled the segment shop-c needs', async () => {
      await active.psql('select pg_switch_wal(); checkpoint');
      const left = await active.psql(`select count(*) from pg_ls_waldir() where name = '${needed}'`);
      return left === '0' ? true : undefined;
    });
    const newest = await active.psql('select pg_walfile_name(pg_switch_wal())');
    await waitLong('the receiver to have stored what the active wrote', async () => {
      const stored = (await listWal(world.archive, stream)).filter((o) => !o.partial && !o.history);
      return stored.some((o) => o.name === needed) && stored.some((o) => o.name >= newest) ? true : undefined;
    });

    // Started again, it replays from the archive through its spool, then streams.
    await startServer({ dataDir: c.dataDir });
    await waitLong('shop-c streaming again', async () => {
      const receiver = await query(
        { host: '127.0.0.1', port: c.port },
        `select status from pg_stat_wal_receiver`,
      ).catch(() => '');
      const state = await stateOf(pipeline, 'shop-c');
      return receiver === 'streaming' && state?.source === 'streaming' && state.healthy ? true : undefined;
    });
    expect(await query({ host: '127.0.0.1', port: c.port }, 'select status from marker')).toBe(
      'while shop-c was down',
    );
    const log = await readFile(join(c.dataDir, 'log', 'postmaster.log'), 'utf8');
    // The restore command's line for each segment it put in pg_wal (recovery reads it there).
    expect(log).toContain(`pullback: segment "${needed}" from the archive, put in pg_wal`);
    expect(log.match(/pullback: segment "[0-9A-F]{24}" from the archive/g)?.length).toBeGreaterThan(1);
    const state = await stateOf(pipeline, 'shop-c');
    expect(state).toMatchObject({ snapshotId: second, healthy: true, running: true, timeline: 1 });
    expect(state?.behindBytes).toBeGreaterThanOrEqual(0);
  });
});
