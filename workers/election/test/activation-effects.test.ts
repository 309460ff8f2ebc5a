import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { activate } from '@pullback/election';
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { closePools } from '@pullback/recipe-postgres';
import { type AgentServer, startAgent } from '@pullback/worker-agent';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient, activationEffects, readActivationRequest } from '../src/index.js';

const TOKEN = 'effects-test-token-0123456789';

let redis: RedisServer;
let server: PostgresServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let pipeline: Pipeline;
let config: Config;
let agent: AgentServer;
let namespace = 0;
const agents = new AgentClient({ agentToken: TOKEN });

/** shop-b is the harness's server (a primary: its "replayed" position is where it writes). */
function yaml(agentPort: number, fence = ''): string {
  return `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, `state-${namespace}`)}
agentToken: ${TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    ${fence}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 1, dataDir: /nowhere, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 50, agent: { port: ${agentPort}, host: 127.0.0.1 } }
`;
}

beforeAll(async () => {
  redis = await startRedis();
  server = await startPostgres();
  scratch = await scratchDir('activation-effects');
}, 120_000);

afterAll(async () => {
  await closePools();
  await server?.stop();
  await redis?.stop();
  await scratch?.remove();
});

beforeEach(async ({ onTestFinished }) => {
  namespace++;
  config = parseConfig(yaml(await freePort()));
  pipeline = openPipeline({ redis: redis.url, prefix: `effects-${namespace}` });
  await pipeline.register(config);
  // An agent that never promotes anything for real: the tests stop before that step.
  agent = await startAgent(config, 'shop-b', { promote: async () => {} });
  onTestFinished(async () => {
    await agent.close();
    await pipeline.close();
  });
});

const effectsOf = (extra: Partial<Parameters<typeof activationEffects>[0]> = {}) =>
  activationEffects({ pipeline, config, component: 'shop', oldActive: 'shop-a', agents, ...extra });

describe('activationEffects', () => {
  it('takeEpoch: above every epoch an agent and the archive record, whatever the registry says', async () => {
    const b = { instance: 'shop-b', url: agent.url };
    // Naming shop-b itself: a record naming another active makes its agent demote its server.
    expect(await agents.recordEpoch(b, 7, 'shop-b')).toEqual({ outcome: 'accepted' });
    expect(await effectsOf().takeEpoch(0)).toBe(8);
    expect(await effectsOf({ archiveEpoch: async () => 12 }).takeEpoch(0)).toBe(13);
    expect(await effectsOf().takeEpoch(20)).toBe(21);
    expect((await pipeline.registry.component('shop'))?.epoch).toBe(21);
  });

  it('waitLeaseLapsed: waits for the lease to run out, never deletes it, gives up on one still renewed', async () => {
    await pipeline.registry.acquireActiveLease('shop', 'shop-a', 1, 800);
    const started = Date.now();
    expect(await effectsOf().waitLeaseLapsed()).toEqual({ lapsed: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);

    await pipeline.registry.acquireActiveLease('shop', 'shop-a', 1, 400);
    const renewing = setInterval(() => {
      void pipeline.registry.renewActiveLease('shop', 'shop-a', 1, 400);
    }, 100);
    try {
      expect(await effectsOf({ activeLeaseMs: 300, leaseMarginMs: 300 }).waitLeaseLapsed()).toEqual({
        lapsed: false,
        holder: 'shop-a@1',
      });
    } finally {
      clearInterval(renewing);
    }
  });

  it("acquireActiveLease: granted when the candidate's own agent already took it at that epoch, refused when another holds it", async () => {
    const epoch = await effectsOf().takeEpoch(0);
    // As shop-b's permission keeper does once its record names it active at `epoch`.
    expect(await pipeline.registry.acquireActiveLease('shop', 'shop-b', epoch, 5000)).toEqual({ ok: true });
    expect(await effectsOf().acquireActiveLease('shop-b', epoch)).toEqual({ ok: true });
    expect(await effectsOf().acquireActiveLease('shop-a', epoch)).toEqual({
      ok: false,
      reason: `held by shop-b@${epoch}`,
      holder: `shop-b@${epoch}`,
    });
  });

  it('catchUp: waits for the archive end, with a time limit, and says what the old active had past it', async () => {
    const position = await server.psql('select pg_current_wal_lsn()');
    await pipeline.registry.reportWalReceiver('shop', {
      holder: 'pull-1:1',
      source: 'shop-a',
      streaming: false,
      synchronous: false,
      slot: 'pullback_shop',
      archivedLsn: position,
      activeLsn: '7F/0',
      updatedAt: new Date().toISOString(),
    });
    const done = await effectsOf().catchUp('shop-b');
    expect(done).toMatchObject({ ok: true, lostBytes: expect.any(Number) });
    expect((done as { lostBytes: number }).lostBytes).toBeGreaterThan(0);

    const behind = await effectsOf({ archiveWalEnd: async () => '7F/0', catchUpTimeoutMs: 1000 }).catchUp(
      'shop-b',
    );
    expect(behind).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^shop-b replayed up to [0-9A-F]+\/[0-9A-F]+, not the archive's end 7F\/0, within 1 s$/,
      ),
    });
  });

  it('catchUp: does not wait for an archive end on an older timeline than the candidate follows (the receiver never reached the newer active)', async ({
    onTestFinished,
  }) => {
    // shop-b follows timeline 2 (a history file in its pg_wal says so); the receiver archived timeline 1 only.
    const history = join(server.dataDir, 'pg_wal', '00000002.history');
    await writeFile(history, '1\t0/1000000\tno recovery target specified\n');
    onTestFinished(() => rm(history, { force: true }));
    const report = {
      holder: 'pull-1:1',
      source: 'shop-a',
      streaming: false,
      synchronous: false,
      slot: 'pullback_shop',
      archivedLsn: '7F/0',
      updatedAt: new Date().toISOString(),
    };
    await pipeline.registry.reportWalReceiver('shop', { ...report, timeline: 1 });
    const started = Date.now();
    expect(await effectsOf({ catchUpTimeoutMs: 30_000 }).catchUp('shop-b')).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(20_000);

    // On the candidate's own timeline, the end is waited for as before.
    await pipeline.registry.reportWalReceiver('shop', { ...report, timeline: 2 });
    expect(await effectsOf({ catchUpTimeoutMs: 1000 }).catchUp('shop-b')).toMatchObject({ ok: false });
  });

  it('a fence command that fails aborts the activation before any epoch is recorded', async () => {
    const fenced = parseConfig(yaml(agent.port, 'fence: "echo no power switch >&2; exit 1"'));
    const effects = activationEffects({
      pipeline,
      config: fenced,
      component: 'shop',
      oldActive: 'shop-a',
      agents,
    });
    expect(effectsOf().runFence).toBeUndefined();
    expect(effects.runFence).toBeDefined();
    await pipeline.registry.reportFallback('shop', 'shop-b', 1, {
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
    const request = await readActivationRequest(pipeline.registry, {
      component: 'shop',
      candidate: 'shop-b',
      activeFailed: true,
      reason: 'test',
      by: 'test',
    });
    const result = await activate(request, effects);
    expect(result).toMatchObject({
      ok: false,
      reason:
        'cannot activate shop-b of shop: the fence command failed: exited with status 1: no power switch',
    });
    expect(await agents.epoch({ instance: 'shop-b', url: agent.url })).toBeUndefined();
  });
});
