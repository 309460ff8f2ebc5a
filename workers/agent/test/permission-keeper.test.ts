import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { type Config, openPipeline, parseConfig, type Registry } from '@pullback/pipeline';
import { closePools, postmasterStatus } from '@pullback/recipe-postgres';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AgentRuntime,
  type AgentServer,
  openAgentRegistry,
  startAgent,
  startAgentRuntime,
} from '../src/index.js';

const TOKEN = 'agent-token-0123456789';
/** Short timings, so each fault plays out in a few seconds. */
const TIMINGS = { renewMs: 200, activeLeaseMs: 1500, failsafeMs: 1500, clockMarginMs: 200 };
/** Slack for a demotion (a few queries and a fast shutdown) on a loaded machine. */
const DEMOTION_MARGIN_MS = 6000;

interface Setup {
  readonly primary: PostgresServer;
  readonly redis: RedisServer;
  readonly config: Config;
  readonly runtime: AgentRuntime;
  readonly fallbackAgent: AgentServer;
  /** The registry, on an ordinary connection. */
  readonly registry: Registry;
  readonly takeEpoch: () => Promise<number>;
  /** Registers the config again (what guardRegistry does once Redis lost it). */
  readonly register: () => Promise<unknown>;
}

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await closePools();
});

/** shop-a, the active, on a real server with its agent runtime; shop-b a fallback whose agent grants promises. */
async function setUp(options: { leaseTakenFirst?: boolean } = {}): Promise<Setup> {
  const scratch = await scratchDir('permission-keeper');
  cleanups.push(() => scratch.remove());
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const primary = await startPostgres();
  cleanups.push(() => primary.stop());
  const [agentA, agentB] = [await freePort(), await freePort()];
  const config = parseConfig(
    `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, 'state')}
agentToken: ${TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${primary.port}, dataDir: ${primary.dataDir}, priority: 100, agent: { port: ${agentA} } }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 1, dataDir: /nowhere, priority: 50, agent: { port: ${agentB} } }
`,
    'pullback.yaml',
  );
  const pipeline = openPipeline({ redis: redis.url, prefix: 'keeper' });
  cleanups.push(() => pipeline.close());
  await pipeline.register(config);
  // As an activation does (its step 6) before the new active's keeper first asks.
  if (options.leaseTakenFirst) await pipeline.registry.acquireActiveLease('shop', 'shop-a', 1, 30_000);
  const fallbackAgent = await startAgent(config, 'shop-b', {
    failsafeMs: TIMINGS.failsafeMs,
    view: () => ({ role: 'fallback', holdsPermission: false, serverRunning: true, streaming: true }),
  });
  cleanups.push(() => fallbackAgent.close());
  const connection = openAgentRegistry(redis.url, { prefix: 'keeper' });
  cleanups.push(() => connection.close());
  const runtime = await startAgentRuntime(config, 'shop-a', {
    registry: connection.registry,
    timings: TIMINGS,
  });
  cleanups.push(() => runtime.close());
  return {
    primary,
    redis,
    config,
    runtime,
    fallbackAgent,
    registry: pipeline.registry,
    takeEpoch: () => pipeline.registry.takeEpoch('shop', 0),
    register: () => pipeline.register(config),
  };
}

async function primaryStatus(runtime: AgentRuntime): Promise<number> {
  return (await fetch(`${runtime.agent.url}/primary`)).status;
}

async function writes(primary: PostgresServer): Promise<boolean> {
  return primary.psql('insert into marks values (1)').then(
    () => true,
    () => false,
  );
}

/** The active holds its lease: /primary 200 and the lease names it in Redis. */
async function untilHeld(setup: Setup): Promise<void> {
  await waitFor('the active to hold permission', async () =>
    (await primaryStatus(setup.runtime)) === 200 ? true : undefined,
  );
  await setup.primary.psql('create table if not exists marks (n int)');
}

describe('the permission keeper', () => {
  it('takes and renews the active lease while the record names the instance; /primary is 200', async () => {
    const setup = await setUp();
    await untilHeld(setup);
    const registry = setup.registry;
    const first = await registry.activeLease('shop');
    expect(first).toMatchObject({ instance: 'shop-a', epoch: 1 });
    // Renewed: the lease outlives several of its own TTLs.
    const since = performance.now();
    await waitFor('three lease lifetimes', async () =>
      performance.now() - since > 3 * TIMINGS.activeLeaseMs ? true : undefined,
    );
    expect(await registry.activeLease('shop')).toMatchObject({ instance: 'shop-a', epoch: 1 });
    expect(await primaryStatus(setup.runtime)).toBe(200);
    expect(await writes(setup.primary)).toBe(true);
    // The heartbeat reports the active with its server running.
    expect(await registry.agent('shop-a')).toMatchObject({
      role: 'active',
      epoch: 1,
      serverRunning: true,
    });
  });

  it('a lease the activation already took in its name at its epoch is its own: renewed, never a refusal', async () => {
    const setup = await setUp({ leaseTakenFirst: true });
    await untilHeld(setup);
    const since = performance.now();
    await waitFor('three lease lifetimes', async () =>
      performance.now() - since > 3 * TIMINGS.activeLeaseMs ? true : undefined,
    );
    expect(await primaryStatus(setup.runtime)).toBe(200);
    expect(await writes(setup.primary)).toBe(true);
    expect(setup.runtime.keeper.permission().holds).toBe(true);
    // Renewed to the keeper's TTL, not left to the 30 s it was taken with.
    expect((await setup.registry.activeLease('shop'))?.ttlMs).toBeLessThanOrEqual(TIMINGS.activeLeaseMs);
  });

  it('keeps the active taking writes past the lease while Redis is down and every fallback promises', async () => {
    const setup = await setUp();
    await untilHeld(setup);
    await setup.redis.stop();
    const stoppedAt = performance.now();
    // Writes keep succeeding well past activeLeaseMs: the failsafe promises hold it.
    while (performance.now() - stoppedAt < 3 * TIMINGS.activeLeaseMs) {
      expect(await writes(setup.primary)).toBe(true);
      expect(setup.runtime.keeper.permission()).toMatchObject({ holds: true });
    }
    expect(setup.runtime.keeper.permission()).toMatchObject({ holds: true, by: 'failsafe' });
    expect(await primaryStatus(setup.runtime)).toBe(200);
    expect((await postmasterStatus(setup.primary.dataDir)).running).toBe(true);
  });

  it('keeps the active through a Redis restarted empty, and takes the lease again once the registry is restored', async () => {
    const setup = await setUp();
    await untilHeld(setup);
    await setup.redis.restartEmpty();
    const restartedAt = performance.now();
    // The registry lost the component: that is no newer activation, so the promises hold it.
    while (performance.now() - restartedAt < 3 * TIMINGS.activeLeaseMs) {
      expect(await writes(setup.primary)).toBe(true);
    }
    expect(setup.runtime.keeper.permission()).toMatchObject({ holds: true, by: 'failsafe' });
    await setup.register();
    await waitFor('the lease to be taken again', async () =>
      (await setup.registry.activeLease('shop').catch(() => undefined))?.instance === 'shop-a'
        ? true
        : undefined,
    );
    expect(setup.runtime.keeper.permission()).toMatchObject({ holds: true, by: 'lease' });
    expect(await writes(setup.primary)).toBe(true);
  });

  it('demotes the active within the lease once Redis is down and a fallback agent cannot be reached', async () => {
    const setup = await setUp();
    await untilHeld(setup);
    await Promise.all([setup.redis.stop(), setup.fallbackAgent.close()]);
    const cutAt = performance.now();
    await waitFor('a write to be refused', async () => ((await writes(setup.primary)) ? undefined : true));
    expect(performance.now() - cutAt).toBeLessThan(TIMINGS.activeLeaseMs + DEMOTION_MARGIN_MS);
    expect(await primaryStatus(setup.runtime)).toBe(503);
    await waitFor('the server to stop', async () =>
      (await postmasterStatus(setup.primary.dataDir)).running ? undefined : true,
    );
    expect(performance.now() - cutAt).toBeLessThan(TIMINGS.activeLeaseMs + DEMOTION_MARGIN_MS);
    expect(await writes(setup.primary)).toBe(false);
  });

  it('demotes the active within a renewal once someone else takes a newer epoch, and never starts it again', async () => {
    const setup = await setUp();
    await untilHeld(setup);
    expect(await setup.takeEpoch()).toBe(2);
    const takenAt = performance.now();
    await waitFor('a write to be refused', async () => ((await writes(setup.primary)) ? undefined : true));
    expect(performance.now() - takenAt).toBeLessThan(TIMINGS.renewMs + DEMOTION_MARGIN_MS);
    expect(await primaryStatus(setup.runtime)).toBe(503);
    expect(setup.runtime.keeper.permission()).toMatchObject({ holds: false });
    await waitFor('the server to stop', async () =>
      (await postmasterStatus(setup.primary.dataDir)).running ? undefined : true,
    );
    // The supervisor leaves a demoted active down: a few polls later it is still stopped.
    const startedBefore = setup.runtime.supervisor.started;
    const since = performance.now();
    await waitFor('a few supervision polls', async () =>
      performance.now() - since > 3000 ? true : undefined,
    );
    expect(setup.runtime.supervisor.started).toBe(startedBefore);
    expect((await postmasterStatus(setup.primary.dataDir)).running).toBe(false);
  });
});
