import { join } from 'node:path';
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
} from '@pullback/harness';
import { type Config, openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { closePools, postmasterStatus, stopServer } from '@pullback/recipe-postgres';
import { type AgentServer, startAgent } from '@pullback/worker-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, activationEffects, switchoverEffects } from '../src/index.js';

const TOKEN = 'switchover-test-token-0123456789';

let redis: RedisServer;
let server: PostgresServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let pipeline: Pipeline;
let config: Config;
let agent: AgentServer;
const agents = new AgentClient({ agentToken: TOKEN });

/** shop-a, the active, is the harness's server, with its agent; it has a fence command, which a switchover never runs. */
function yaml(agentPort: number): string {
  return `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, 'state')}
agentToken: ${TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    fence: touch ${join(scratch.path, 'fenced')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 100, agent: { port: ${agentPort}, host: 127.0.0.1 } }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 1, dataDir: /nowhere, priority: 50 }
`;
}

beforeAll(async () => {
  redis = await startRedis();
  server = await startPostgres();
  scratch = await scratchDir('switchover-effects');
  config = parseConfig(yaml(await freePort()));
  pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(config);
  agent = await startAgent(config, 'shop-a');
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await pipeline?.close();
  await closePools();
  await stopServer({ dataDir: server.dataDir }).catch(() => {});
  await server?.stop();
  await redis?.stop();
  await scratch?.remove();
});

const effects = () =>
  switchoverEffects(activationEffects({ pipeline, config, component: 'shop', oldActive: 'shop-a', agents }), {
    registry: pipeline.registry,
    component: 'shop',
    config: config.components.shop!,
    oldActive: 'shop-a',
    agents,
  });

describe('switchoverEffects', () => {
  it('shuts the old active down cleanly and gives its lease up; refuses one that crashed, keeping its lease; never fences', async () => {
    expect(effects().runFence).toBeUndefined();
    const registry = pipeline.registry;

    // A running active: its agent demotes it; the lease it held is released at once.
    expect(await registry.acquireActiveLease('shop', 'shop-a', 1, 60_000)).toEqual({ ok: true });
    const first = effects();
    const epoch = await first.takeEpoch(0);
    expect(await first.shutDownOldActive?.(epoch, 'shop-b')).toEqual({ ok: true });
    expect((await postmasterStatus(server.dataDir)).running).toBe(false);
    expect(await registry.activeLease('shop')).toBeUndefined();
    // A catch-up with no shutdown before it has nothing to wait for: refused, never taken as done.
    expect(await effects().catchUp('shop-b')).toEqual({
      ok: false,
      reason: 'shop-a was not shut down first',
    });

    // A crashed active: pg_control says "in production", so its last record is unknown.
    await server.restart();
    await server.crash();
    expect(await registry.acquireActiveLease('shop', 'shop-a', epoch, 60_000)).toEqual({ ok: true });
    const second = effects();
    const next = await second.takeEpoch(0);
    expect(await second.shutDownOldActive?.(next, 'shop-b')).toEqual({
      ok: false,
      reason: 'its pg_control says "in production", not "shut down"',
    });
    expect(await registry.activeLease('shop')).toMatchObject({ instance: 'shop-a', epoch });
  });
});
