import { execFile } from 'node:child_process';
import { access, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import {
  closePools,
  postmasterStatus,
  promoteServer,
  query,
  startServer,
  startStandby,
  stopServer,
} from '@pullback/recipe-postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  EpochRecordStore,
  epochRecordPath,
  openAgentRegistry,
  rejoinAsFallback,
  startAgentRuntime,
  startFallbackUnderImportLock,
} from '../src/index.js';

const execFileAsync = promisify(execFile);
const TOKEN = 'agent-token-0123456789';
const TIMINGS = { renewMs: 200, activeLeaseMs: 1500, failsafeMs: 1500, clockMarginMs: 200 };
/** pg_rewind reads the old active's WAL back to the last checkpoint before the fork: kept. */
const KEEP_WAL = { wal_keep_size: '256MB' };

let redis: RedisServer;
let pipeline: Pipeline;
/** Per test: the old active A (a harness cluster, data checksums on), and the new active B. */
let a: PostgresServer | undefined;
let b: { dataDir: string; port: number } | undefined;
let others: (() => Promise<void>)[] = [];
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let prefix = 0;

beforeAll(async () => {
  redis = await startRedis();
  scratch = await scratchDir('rejoin');
  const owner = await postgresOwner();
  if (owner) await chown(scratch.path, owner.uid, owner.gid);
});

afterAll(async () => {
  await redis?.stop();
  await scratch?.remove();
});

afterEach(async () => {
  await closePools();
  for (const cleanup of others.reverse()) await cleanup().catch(() => {});
  others = [];
  if (a !== undefined) {
    await stopServer({ dataDir: a.dataDir }).catch(() => {});
    await a.stop();
  }
  if (b !== undefined) await stopServer({ dataDir: b.dataDir }).catch(() => {});
  a = undefined;
  b = undefined;
  await pipeline?.close();
});

/** B: a streaming standby of A in a directory of its own. */
async function standbyOf(primary: PostgresServer, label: string): Promise<{ dataDir: string; port: number }> {
  const owner = await postgresOwner();
  const dir = join(scratch.path, `${label}-${prefix}`);
  const socketDir = join(dir, 'socket');
  await mkdir(socketDir, { recursive: true });
  if (owner) {
    await chown(dir, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const dataDir = join(dir, 'data');
  await execFileAsync(
    join(primary.binDir, 'pg_basebackup'),
    ['-D', dataDir, '-d', primary.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: dir },
  );
  const port = await freePort();
  await startStandby({
    dataDir,
    port,
    listenAddresses: '127.0.0.1',
    socketDir,
    primary: { host: '127.0.0.1', port: primary.port },
    timeoutSeconds: 120,
  });
  return { dataDir, port };
}

/** shop-a (the old active, A) and shop-b (at `newActive`), each with an agent. */
async function config(newActive: { dataDir: string; port: number }): Promise<Config> {
  return parseConfig(
    `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, `state-${prefix}`)}
agentToken: ${TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${a!.port}, dataDir: ${a!.dataDir}, priority: 100, agent: { port: ${await freePort()} } }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${newActive.port}, dataDir: ${newActive.dataDir}, priority: 50, agent: { port: ${await freePort()} } }
`,
    'pullback.yaml',
  );
}

/**
 * The failover as the activation leaves it for A: shop-b active at epoch 2 in the
 * registry and in A's epoch record (as `POST /epoch` records it), A stopped, its
 * data directory still an active's (no standby.signal).
 */
async function failedOver(cfg: Config, how: 'recorded' | 'missed-while-dead' = 'recorded'): Promise<void> {
  prefix += 1;
  pipeline = openPipeline({ redis: redis.url, prefix: `rejoin-${prefix}` });
  await pipeline.register(cfg);
  const record = new EpochRecordStore(epochRecordPath(cfg.stateDir, 'shop-a'));
  const registered = await pipeline.registry.component('shop');
  if (how === 'missed-while-dead') {
    // A's agent recorded its own term, then died with its server before the activation reached it.
    expect((await record.compareAndSet({ epoch: registered!.epoch, active: 'shop-a' })).accepted).toBe(true);
    await a!.crash();
  }
  const epoch = await pipeline.registry.takeEpoch('shop', registered!.epoch);
  expect(await pipeline.registry.setActive('shop', 'shop-b', epoch)).toEqual({ ok: true });
  if (how === 'recorded') {
    expect((await record.compareAndSet({ epoch, active: 'shop-b' })).accepted).toBe(true);
    await stopServer({ dataDir: a!.dataDir });
  }
  await expect(access(join(a!.dataDir, 'standby.signal'))).rejects.toThrow();
}

/** Whether A takes writes now: not in recovery and not read-only; false when it does not answer. */
async function aWritable(): Promise<boolean> {
  const answer = await query(
    { host: '127.0.0.1', port: a!.port },
    "select not pg_is_in_recovery() and current_setting('default_transaction_read_only') = 'off'",
    { statementTimeoutMs: 3000, signal: AbortSignal.timeout(5000) },
  ).catch(() => 'f');
  return answer === 't';
}

async function startAgentOfA(cfg: Config) {
  const connection = openAgentRegistry(redis.url, { prefix: `rejoin-${prefix}` });
  const runtime = await startAgentRuntime(cfg, 'shop-a', {
    registry: connection.registry,
    timings: TIMINGS,
    superviseMs: 200,
    restartBackoffMs: 200,
    server: { socketDir: join(a!.dataDir, '..', 'socket'), startTimeoutSeconds: 120 },
  });
  others.push(async () => {
    await runtime.close();
    await connection.close();
  });
  return runtime;
}

/** A diverged from B after B's promotion; the agent of A then brings it back as B's standby. */
async function expectRejoin(how: 'recorded' | 'missed-while-dead'): Promise<void> {
  a = await startPostgres({ settings: KEEP_WAL });
  await a.psql("create table orders (id int, origin text); insert into orders values (1, 'before')");
  b = await standbyOf(a, 'b');
  const bEndpoint = { host: '127.0.0.1', port: b.port };
  await waitFor('B to have replayed A', async () =>
    (await query(bEndpoint, 'select count(*) from orders').catch(() => '')) === '1' ? true : undefined,
  );
  const cfg = await config(b);
  await promoteServer({ dataDir: b.dataDir });
  await query(bEndpoint, "insert into orders values (2, 'b after the promotion')");
  await a.psql("insert into orders select g, 'a diverged' from generate_series(100, 199) g");
  await failedOver(cfg, how);

  const runtime = await startAgentOfA(cfg);
  const samples: boolean[] = [];
  await waitFor(
    'A to stream from B',
    async () => {
      samples.push(await aWritable());
      const status = await query(
        { host: '127.0.0.1', port: a!.port },
        'select status, sender_port from pg_stat_wal_receiver',
      ).catch(() => '');
      return status === `streaming|${b!.port}` ? true : undefined;
    },
    150_000,
  );
  samples.push(await aWritable());
  expect(samples.length).toBeGreaterThan(1);
  expect(samples.every((writable) => !writable)).toBe(true);

  await access(join(a.dataDir, 'standby.signal'));
  expect(await new EpochRecordStore(epochRecordPath(cfg.stateDir, 'shop-a')).read()).toMatchObject({
    epoch: 2,
    active: 'shop-b',
  });
  // Counted once rewindServer's checks answered, which may be just after it streams.
  await waitFor('the start to be counted', async () => (runtime.supervisor.started >= 1 ? true : undefined));
  expect(runtime.supervisor.started).toBe(1);
  expect(runtime.supervisor.reason).toBeUndefined();
  await query(bEndpoint, "insert into orders values (3, 'b after the rejoin')");
  await waitFor('A to replay B', async () =>
    (await query({ host: '127.0.0.1', port: a!.port }, 'select count(*) from orders where id = 3')) === '1'
      ? true
      : undefined,
  );
  expect(await query({ host: '127.0.0.1', port: a.port }, 'select origin from orders order by id')).toBe(
    'before\nb after the promotion\nb after the rejoin',
  );
  expect((await fetch(`${runtime.agent.url}/replica`)).status).toBe(200);
  expect((await fetch(`${runtime.agent.url}/primary`)).status).toBe(503);
  expect(await aWritable()).toBe(false);
}

describe("the old active's rejoin", () => {
  it('rewinds a stopped old active its record names a fallback and starts it streaming from the new active, never writable', async () => {
    await expectRejoin('recorded');
  });

  it('brings back an old active killed with its agent (SIGKILL) that missed the activation: it takes the epoch from the registry, then rewinds', async () => {
    await expectRejoin('missed-while-dead');
  });

  it('reports an old active it cannot rewind (an unrelated new active) as needing reseeding, in one line, and never starts it', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    const unrelated = await startPostgres();
    others.push(() => unrelated.stop());
    const cfg = await config({ dataDir: unrelated.dataDir, port: unrelated.port });
    await failedOver(cfg);

    const runtime = await startAgentOfA(cfg);
    const state = await waitFor(
      'shop-a to be reported as needing reseeding',
      async () => {
        expect((await postmasterStatus(a!.dataDir)).running).toBe(false);
        const record = await pipeline.registry.instance('shop-a');
        return record?.state?.healthy === false && record.state.reason?.includes('reseeding')
          ? record.state
          : undefined;
      },
      120_000,
    );
    expect(state.reason).toMatch(
      /^cannot start shop-a: cannot rewind it as a fallback of shop-b at epoch 2: pg_rewind of .*different systems.*; it needs reseeding$/,
    );
    expect(state.reason).not.toContain('\n');
    expect(runtime.supervisor.reason).toBe(state.reason);
    // It tries again after its back-off, and still never starts it.
    await waitFor('another attempt', async () => {
      const record = await pipeline.registry.instance('shop-a');
      return record?.state?.updatedAt !== state.updatedAt ? true : undefined;
    });
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    await expect(access(join(a.dataDir, 'standby.signal'))).rejects.toThrow();
    expect(runtime.supervisor.started).toBe(0);
  });

  it('does not rewind while the import role holds the instance (its import lock)', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    const unrelated = await startPostgres();
    others.push(() => unrelated.stop());
    const cfg = await config({ dataDir: unrelated.dataDir, port: unrelated.port });
    await failedOver(cfg);
    const lock = await pipeline.registry.acquireLock('import.shop-a', 60_000);
    expect(lock).toBeDefined();
    const lines: string[] = [];
    const connection = openAgentRegistry(redis.url, { prefix: `rejoin-${prefix}` });
    const runtime = await startAgentRuntime(cfg, 'shop-a', {
      registry: connection.registry,
      timings: TIMINGS,
      superviseMs: 200,
      restartBackoffMs: 200,
      log: (line) => lines.push(line),
    });
    others.push(async () => {
      await runtime.close();
      await connection.close();
    });
    await waitFor('the agent to wait for the lock', async () =>
      lines.filter((line) =>
        line.startsWith('not rejoining shop-a now: rejoin of shop-a: import.shop-a is busy'),
      ).length >= 2
        ? true
        : undefined,
    );
    expect(runtime.supervisor.reason).toBeUndefined();
    await lock!.release();
    await waitFor('the rewind to be tried once the lock is free', async () =>
      runtime.supervisor.reason?.includes('needs reseeding') ? true : undefined,
    );
  });
  it('leaves a directory that another holder of the import lock made a standby, or started, while it waited: no pg_rewind, no failure', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    // A pg_rewind against an unrelated cluster fails: any attempt would say "needs reseeding".
    const unrelated = await startPostgres();
    others.push(() => unrelated.stop());
    const cfg = await config({ dataDir: unrelated.dataDir, port: unrelated.port });
    await failedOver(cfg);
    const component = cfg.components.shop!;
    const rejoin = rejoinAsFallback({
      instance: component.instances[0]!,
      instances: component.instances,
      record: new EpochRecordStore(epochRecordPath(cfg.stateDir, 'shop-a')),
      registry: pipeline.registry,
    });
    // A switchover's rejoinOldActive holds the lock and sets the old active up as a standby.
    const lock = await pipeline.registry.acquireLock('import.shop-a', 60_000);
    expect(await rejoin()).toBe('rejoin of shop-a: import.shop-a is busy');
    const signal = join(a.dataDir, 'standby.signal');
    await writeFile(signal, '');
    await lock!.release();
    expect(await rejoin()).toBe('shop-a is a standby already (standby.signal)');
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);

    // Or started it (the directory seen stopped and without standby.signal a moment before).
    await rm(signal);
    await startServer({ dataDir: a.dataDir, timeoutSeconds: 120 });
    expect(await rejoin()).toBe('shop-a runs already');
    expect(await query({ host: '127.0.0.1', port: a.port }, 'select count(*) from pg_class')).toMatch(
      /^\d+$/,
    );
    expect(await pipeline.registry.acquireLock('import.shop-a', 1000)).toBeDefined();
  });

  it('leaves an old active whose new active does not answer (down, failing over in turn) for a later try: not "needs reseeding", nothing touched', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    // Nothing listens on the new active's port.
    const cfg = await config({ dataDir: join(scratch.path, 'gone'), port: await freePort() });
    await failedOver(cfg);
    const component = cfg.components.shop!;
    const rejoin = rejoinAsFallback({
      instance: component.instances[0]!,
      instances: component.instances,
      record: new EpochRecordStore(epochRecordPath(cfg.stateDir, 'shop-a')),
      registry: pipeline.registry,
    });
    expect(await rejoin()).toMatch(
      /^shop-b, the active to rewind it against, does not answer now: .*connection refused/,
    );
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    await expect(access(join(a.dataDir, 'standby.signal'))).rejects.toThrow();
    expect(await pipeline.registry.acquireLock('import.shop-a', 1000)).toBeDefined();
  });

  it('refuses to rejoin while the record names this instance active, and touches nothing', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    const cfg = await config({ dataDir: join(scratch.path, 'nowhere'), port: await freePort() });
    prefix += 1;
    pipeline = openPipeline({ redis: redis.url, prefix: `rejoin-${prefix}` });
    await pipeline.register(cfg);
    const record = new EpochRecordStore(epochRecordPath(cfg.stateDir, 'shop-a'));
    expect((await record.compareAndSet({ epoch: 7, active: 'shop-a' })).accepted).toBe(true);
    await stopServer({ dataDir: a.dataDir });
    const component = cfg.components.shop!;
    const rejoin = rejoinAsFallback({
      instance: component.instances[0]!,
      instances: component.instances,
      record,
      registry: pipeline.registry,
    });
    await expect(rejoin()).rejects.toThrow(
      `${a.dataDir} is not a standby's data directory (no standby.signal); it needs reseeding`,
    );
    expect((await postmasterStatus(a.dataDir)).running).toBe(false);
    await expect(access(join(a.dataDir, 'standby.signal'))).rejects.toThrow();
    expect(await pipeline.registry.acquireLock('import.shop-a', 1000)).toBeDefined();
  });
});

describe("a fallback's start by its supervisor", () => {
  it('waits while an import holds the instance (its import lock), then starts it once; a running server or a directory without standby.signal is left alone', async () => {
    a = await startPostgres({ settings: KEEP_WAL });
    b = await standbyOf(a, 'start');
    await stopServer({ dataDir: b.dataDir });
    prefix += 1;
    pipeline = openPipeline({ redis: redis.url, prefix: `rejoin-${prefix}` });
    let starts = 0;
    const start = startFallbackUnderImportLock({
      instance: 'shop-b',
      registry: pipeline.registry,
      start: async (dataDir) => {
        starts += 1;
        await startServer({ dataDir, timeoutSeconds: 120 });
      },
    });
    const lock = await pipeline.registry.acquireLock('import.shop-b', 60_000);
    expect(await start(b.dataDir)).toBe('start of shop-b: import.shop-b is busy');
    expect((await postmasterStatus(b.dataDir)).running).toBe(false);
    await lock!.release();
    expect(await start(b.dataDir)).toBeUndefined();
    expect(await query({ host: '127.0.0.1', port: b.port }, 'select pg_is_in_recovery()')).toBe('t');
    // Started meanwhile by the import that held the lock: not started twice.
    expect(await start(b.dataDir)).toBe('shop-b runs already');
    await stopServer({ dataDir: b.dataDir });
    // An import that stopped it and had not written standby.signal yet: not started writable.
    await rm(join(b.dataDir, 'standby.signal'));
    expect(await start(b.dataDir)).toBe(`${b.dataDir} is no standby's data directory now`);
    expect((await postmasterStatus(b.dataDir)).running).toBe(false);
    expect(starts).toBe(1);
    expect(await pipeline.registry.acquireLock('import.shop-b', 1000)).toBeDefined();
  });
});
