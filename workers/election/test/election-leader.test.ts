import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, type Pipeline, parseConfig, type Registry } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLease, type RunningElection, startElection } from '../src/index.js';

let redis: RedisServer;
let namespace = 0;

beforeAll(async () => {
  redis = await startRedis();
}, 120_000);

afterAll(async () => {
  await redis?.stop();
});

const LEASE_MS = 1500;

/** A config with nothing to watch: only the leader lease is contested. */
const config = () =>
  parseConfig(`redis: ${redis.url}
archive: { url: /tmp/pullback-election-leader-archive }
election: { leaderLeaseMs: ${LEASE_MS}, clockMarginMs: 200 }
components:
  notes: { recipe: files, path: /tmp, outbox: /tmp/pullback-election-leader-outbox }
`);

/** A registry whose every call never answers once `cut` is set (a leader cut off from Redis). */
function severable(registry: Registry): { registry: Registry; cut(): void } {
  let cut = false;
  const proxy = new Proxy(registry, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (cut ? new Promise(() => {}) : value.apply(target, args));
    },
  });
  return {
    registry: proxy,
    cut: () => {
      cut = true;
    },
  };
}

/** Watches who leads, every 20 ms, until stopped; `both` counts moments two lead at once. */
function watchLeaders(elections: readonly RunningElection[]) {
  let both = 0;
  const timer = setInterval(() => {
    if (elections.filter((election) => election.leads()).length > 1) both++;
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return both;
    },
  };
}

describe('the election leader lease', () => {
  it('one of two workers leads; closed, it gives the lease up and the other leads at once', async () => {
    const prefix = `leader-${++namespace}`;
    const pipelines: Pipeline[] = [
      openPipeline({ redis: redis.url, prefix }),
      openPipeline({ redis: redis.url, prefix }),
    ];
    const [one, two] = (await Promise.all(
      pipelines.map((pipeline, i) => startElection(config(), { pipeline, holder: `election-${i + 1}` })),
    )) as [RunningElection, RunningElection];
    try {
      const leaders = watchLeaders([one, two]);
      const first = await waitFor('a leader', async () => [one, two].find((e) => e.leads()));
      const other = first === one ? two : one;
      expect((await pipelines[0]!.registry.leader())?.holder).toBe(first.holder);
      const closedAt = Date.now();
      await first.close();
      await waitFor('the other leads', async () => (other.leads() ? true : undefined), 30_000);
      // Released, not lapsed: well within a lease.
      expect(Date.now() - closedAt).toBeLessThan(LEASE_MS + 1000);
      expect((await pipelines[0]!.registry.leader())?.holder).toBe(other.holder);
      expect(leaders.stop()).toBe(0);
    } finally {
      await Promise.all([one.close(), two.close()]);
      await Promise.all(pipelines.map((pipeline) => pipeline.close()));
    }
  });

  it('a leader cut off from Redis stops leading by its own clock; the other takes over within the lease plus a renewal', async () => {
    const prefix = `leader-${++namespace}`;
    const pipelines = [
      openPipeline({ redis: redis.url, prefix }),
      openPipeline({ redis: redis.url, prefix }),
    ];
    const severables = pipelines.map((pipeline) => severable(pipeline.registry));
    const elections = await Promise.all(
      pipelines.map((pipeline, i) =>
        startElection(config(), {
          // The pipeline with its registry behind the fault: every other member as it is.
          pipeline: Object.create(pipeline, { registry: { value: severables[i]!.registry } }) as Pipeline,
          holder: `election-${i + 1}`,
        }),
      ),
    );
    try {
      const leaders = watchLeaders(elections);
      const first = await waitFor('a leader', async () => elections.find((e) => e.leads()));
      const index = elections.indexOf(first);
      const other = elections[1 - index]!;
      const cutAt = Date.now();
      severables[index]!.cut();
      await waitFor(
        'the cut-off leader stops leading',
        async () => (first.leads() ? undefined : true),
        30_000,
      );
      // Its own clock ends it before the lease can lapse in Redis: never two leaders.
      const stoppedAfter = Date.now() - cutAt;
      expect(stoppedAfter).toBeLessThan(LEASE_MS);
      await waitFor('the other leads', async () => (other.leads() ? true : undefined), 30_000);
      expect(Date.now() - cutAt).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 2000);
      expect((await pipelines[0]!.registry.leader())?.holder).toBe(other.holder);
      expect(leaders.stop()).toBe(0);
    } finally {
      await Promise.all(elections.map((election) => election.close()));
      await Promise.all(pipelines.map((pipeline) => pipeline.close()));
    }
  });

  it('confirm(), the check before a failover: false once Redis no longer answers, and the term signal aborted', async () => {
    const pipeline = openPipeline({ redis: redis.url, prefix: `leader-${++namespace}` });
    const { registry, cut } = severable(pipeline.registry);
    const lease = new LeaderLease({
      registry,
      holder: 'election-1',
      leaderLeaseMs: LEASE_MS,
      clockMarginMs: 200,
    });
    try {
      lease.start();
      await waitFor('it leads', async () => (lease.holds() ? true : undefined));
      expect(await lease.confirm()).toBe(true);
      const signal = lease.termSignal();
      expect(signal?.aborted).toBe(false);
      cut();
      const asked = Date.now();
      expect(await lease.confirm()).toBe(false);
      // It gave up by its own deadline, not by waiting for an answer that never comes.
      expect(Date.now() - asked).toBeLessThan(LEASE_MS);
      expect(lease.holds()).toBe(false);
      expect(signal?.aborted).toBe(true);
      expect(lease.termSignal()).toBeUndefined();
    } finally {
      await lease.stop();
      await pipeline.close();
    }
  });
});
