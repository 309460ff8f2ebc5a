import { performance } from 'node:perf_hooks';
import { freePort, type RedisServer, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FailoverOutcome, startElection } from '../src/index.js';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
}, 120_000);

afterAll(async () => {
  await redis?.stop();
});

const DELAY_MS = 800;

describe('a failover refused', () => {
  it('is one log line (not repeated), nothing is taken, and the next attempt waits the whole delay again', async () => {
    // Nothing listens at shop-a (probes fail, no agent ever reported) nor at shop-b, which never reported.
    const config = parseConfig(`redis: ${redis.url}
archive: { url: /tmp/pullback-election-refusal-archive }
agentToken: election-refusal-token-0123
election: { failoverDelayMs: ${DELAY_MS}, probeMs: 100, probeTimeoutMs: 500, leaderLeaseMs: 1500 }
components:
  shop:
    recipe: postgres
    outbox: /tmp/pullback-election-refusal-outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/b, priority: 50, agent: { port: ${await freePort()} } }
`);
    const pipeline = openPipeline({ redis: redis.url, prefix: 'refusal' });
    await pipeline.register(config);
    const attempts: { at: number; outcome: FailoverOutcome }[] = [];
    const lines: string[] = [];
    const election = await startElection(config, {
      pipeline,
      holder: 'election-1',
      onFailover: (_component, outcome) => attempts.push({ at: performance.now(), outcome }),
      log: (line) => lines.push(line),
    });
    try {
      await waitFor('three attempts', async () => (attempts.length >= 3 ? true : undefined), 60_000);
      const refusal =
        'shop-a of shop failed and no fallback can take over: shop-b is not healthy: its import agent has reported nothing';
      expect(attempts.map(({ outcome }) => outcome)).toEqual([
        { ok: false, line: refusal },
        { ok: false, line: refusal },
        { ok: false, line: refusal },
      ]);
      expect(lines).toEqual(['election-1 leads the election', refusal]);
      // The detector starts afresh after each: both signals must hold the whole delay again.
      for (let i = 1; i < 3; i++) {
        expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThanOrEqual(DELAY_MS);
      }
      expect(await pipeline.registry.component('shop')).toMatchObject({ active: 'shop-a', epoch: 1 });
      expect(await pipeline.registry.activations('shop')).toEqual([]);
    } finally {
      await election.close();
      await pipeline.close();
    }
  });

  it('a leader that loses its lease mid-activation stops at once: refused, no activation, the old lease untouched', async () => {
    const config = parseConfig(`redis: ${redis.url}
archive: { url: /tmp/pullback-election-refusal-archive }
agentToken: election-refusal-token-0123
election: { failoverDelayMs: ${DELAY_MS}, probeMs: 100, probeTimeoutMs: 500, leaderLeaseMs: 1500 }
components:
  shop:
    recipe: postgres
    outbox: /tmp/pullback-election-refusal-outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: /nowhere/b, priority: 50, agent: { port: ${await freePort()} } }
`);
    const pipeline = openPipeline({ redis: redis.url, prefix: 'lost-lease' });
    await pipeline.register(config);
    const registry = pipeline.registry;
    await registry.reportFallback('shop', 'shop-b', 1, {
      healthy: true,
      updatedAt: new Date().toISOString(),
    });
    // shop-a's lease outlives the test: the activation waits for it to lapse (step 3), where it is cut short.
    await registry.acquireActiveLease('shop', 'shop-a', 1, 120_000);
    const attempts: FailoverOutcome[] = [];
    const election = await startElection(config, {
      pipeline,
      holder: 'election-1',
      onFailover: (_component, outcome) => attempts.push(outcome),
    });
    try {
      await waitFor('the activation under way (epoch 2 taken)', async () =>
        (await registry.component('shop'))?.epoch === 2 ? true : undefined,
      );
      // Another takes the leader lease: election-1's next renewal is refused.
      expect(await registry.releaseLeader('election-1')).toBe(true);
      expect(await registry.acquireLeader('election-2', 60_000)).toBe(true);
      await waitFor('the failover given up', async () => (attempts.length > 0 ? true : undefined), 30_000);
      expect(attempts).toEqual([
        {
          ok: false,
          line: 'failover of shop: cannot activate shop-b of shop: election-1 no longer leads the election: the lease was lost',
          epoch: 2,
        },
      ]);
      expect(election.leads()).toBe(false);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-a', epoch: 2 });
      expect(await registry.activations('shop')).toEqual([]);
      expect(await registry.activeLease('shop')).toMatchObject({ instance: 'shop-a', epoch: 1 });
    } finally {
      await election.close();
      await pipeline.close();
    }
  });
});
