import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chown, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
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
import { closePools, postmasterStatus, query, startStandby, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAgentRegistry, startAgentRuntime } from '../src/index.js';

const execFileAsync = promisify(execFile);
const TOKEN = 'agent-token-0123456789';
const TIMINGS = { renewMs: 200, activeLeaseMs: 1500, failsafeMs: 1500, clockMarginMs: 200 };

let primary: PostgresServer;
let redis: RedisServer;
let pipeline: Pipeline;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let standby: { dataDir: string; port: number };

beforeAll(async () => {
  [primary, redis] = await Promise.all([startPostgres(), startRedis()]);
  scratch = await scratchDir('server-supervisor');
  const owner = await postgresOwner();
  const socketDir = join(scratch.path, 'socket');
  await mkdir(socketDir);
  if (owner) {
    await chown(scratch.path, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const dataDir = join(scratch.path, 'data');
  await execFileAsync(
    join(primary.binDir, 'pg_basebackup'),
    ['-D', dataDir, '-d', primary.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: scratch.path },
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
  standby = { dataDir, port };
  pipeline = openPipeline({ redis: redis.url, prefix: 'supervisor' });
});

afterAll(async () => {
  await closePools();
  if (standby) await stopServer({ dataDir: standby.dataDir }).catch(() => {});
  await pipeline?.close();
  await Promise.all([primary?.stop(), redis?.stop()]);
  await scratch?.remove();
});

/** shop-b, the fallback, at `dataDir` (the streaming standby unless told). */
async function config(dataDir = standby.dataDir): Promise<Config> {
  return parseConfig(
    `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, 'state')}
agentToken: ${TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${primary.port}, dataDir: ${primary.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${standby.port}, dataDir: ${dataDir}, priority: 50, agent: { port: ${await freePort()} } }
`,
    'pullback.yaml',
  );
}

async function streaming(): Promise<boolean> {
  const status = await query(
    { host: '127.0.0.1', port: standby.port },
    'select status from pg_stat_wal_receiver',
  ).catch(() => '');
  return status === 'streaming';
}

describe("the agent's supervision of its server", () => {
  it('starts a fallback whose postmaster was killed with SIGKILL again, and it streams again', async () => {
    const cfg = await config();
    await pipeline.register(cfg);
    const connection = openAgentRegistry(redis.url, { prefix: 'supervisor' });
    const runtime = await startAgentRuntime(cfg, 'shop-b', {
      registry: connection.registry,
      timings: TIMINGS,
      superviseMs: 200,
      restartBackoffMs: 200,
    });
    try {
      await waitFor('the fallback to stream', async () => ((await streaming()) ? true : undefined));
      const before = await postmasterStatus(standby.dataDir);
      expect(before.running).toBe(true);
      process.kill(before.pid!, 'SIGKILL');
      await waitFor('the agent to start it again', async () => {
        const after = await postmasterStatus(standby.dataDir);
        return after.running && after.pid !== before.pid ? true : undefined;
      });
      await waitFor('the start to be counted', async () =>
        runtime.supervisor.started >= 1 ? true : undefined,
      );
      await waitFor('the fallback to stream again', async () => ((await streaming()) ? true : undefined));
      expect((await fetch(`${runtime.agent.url}/replica`)).status).toBe(200);
      // The heartbeat says so too.
      await waitFor('a heartbeat with the server running', async () => {
        const heartbeat = await pipeline.registry.agent('shop-b');
        return heartbeat?.serverRunning === true && heartbeat.ageMs < 2000 ? heartbeat : undefined;
      });
      expect(await pipeline.registry.agent('shop-b')).toMatchObject({
        role: 'fallback',
        serverRunning: true,
      });
    } finally {
      await runtime.close();
      await connection.close();
    }
  });

  it('reports a fallback that cannot start unhealthy, with the reason, and serves /health 503', async () => {
    const notStandby = join(scratch.path, 'not-a-standby');
    await mkdir(notStandby, { recursive: true });
    const cfg = await config(notStandby);
    await pipeline.register(cfg);
    const connection = openAgentRegistry(redis.url, { prefix: 'supervisor' });
    const runtime = await startAgentRuntime(cfg, 'shop-b', {
      registry: connection.registry,
      timings: TIMINGS,
      superviseMs: 200,
      restartBackoffMs: 200,
    });
    try {
      const state = await waitFor('the fallback to be reported unhealthy', async () => {
        const record = await pipeline.registry.instance('shop-b');
        return record?.state?.healthy === false && record.state.reason?.includes('cannot start')
          ? record.state
          : undefined;
      });
      expect(state.reason).toContain(`${notStandby} is not a standby's data directory`);
      expect(runtime.supervisor.reason).toContain('cannot start shop-b');
      expect((await fetch(`${runtime.agent.url}/health`)).status).toBe(503);
    } finally {
      await runtime.close();
      await connection.close();
      // The next test registers the real standby again.
      await pipeline.register(await config());
    }
  });

  it("clears its 'cannot start' report once the server runs, so the position report can refresh it", async () => {
    const cfg = await config();
    await pipeline.register(cfg);
    await pipeline.registry.reportFallback('shop', 'shop-b', 1, {
      running: true,
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
    await stopServer({ dataDir: standby.dataDir });
    // Its port taken by another process: pg_ctl start fails until it is let go.
    const squatter = createServer();
    squatter.listen(standby.port, '127.0.0.1');
    await once(squatter, 'listening');
    const connection = openAgentRegistry(redis.url, { prefix: 'supervisor' });
    const runtime = await startAgentRuntime(cfg, 'shop-b', {
      registry: connection.registry,
      timings: TIMINGS,
      superviseMs: 200,
      restartBackoffMs: 200,
    });
    try {
      await waitFor('the failed start reported', async () => {
        const state = (await pipeline.registry.instance('shop-b'))?.state;
        return state?.reason?.startsWith('cannot start shop-b:') ? true : undefined;
      });
      squatter.close();
      await waitFor('the fallback to stream again', async () => ((await streaming()) ? true : undefined));
      const state = await waitFor('the report cleared', async () => {
        const now = (await pipeline.registry.instance('shop-b'))?.state;
        return now?.reason?.startsWith('cannot start') ? undefined : now;
      });
      // `starting` is the position report's own reason: its next round marks it healthy.
      expect(state).toMatchObject({ healthy: false, running: true, reason: 'starting' });
      expect(runtime.supervisor.reason).toBeUndefined();
    } finally {
      squatter.close();
      await runtime.close();
      await connection.close();
    }
  });
});
