import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectRedis, PipelineError, parseConfig, type Redis, Registry } from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

/*
 * The election's state in Redis (docs/election.md): leases, the epoch, heartbeats and
 * the activation history, against a real redis-server. Races run on several
 * connections at once, as separate processes would.
 */

let redis: RedisServer;
let connection: Redis;
/** Separate connections, one per competing process. */
let competitors: Redis[];

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
  competitors = Array.from({ length: 8 }, () => connectRedis(redis.url));
});

afterAll(async () => {
  await Promise.all([connection, ...(competitors ?? [])].map((c) => c?.quit()));
  await redis?.stop();
});

const CONFIG = parseConfig(`
redis: redis://127.0.0.1:6379
archive: { url: /tmp/archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: 5434, dataDir: /srv/c, priority: 50 }
`);

/** A registered registry on a fresh namespace, and one registry per competitor connection on it. */
async function registries(): Promise<{ registry: Registry; others: Registry[] }> {
  const prefix = testPrefix();
  const registry = new Registry(connection, { prefix });
  await registry.registerConfig(CONFIG);
  return { registry, others: competitors.map((c) => new Registry(c, { prefix })) };
}

/** Waits (polling) until `check` holds. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), 10_000, 20);
}

async function roles(registry: Registry): Promise<string[][]> {
  return (await registry.instances('shop')).map((i) => [i.name, i.role, String(i.epoch)]);
}

describe('leader lease', () => {
  it('is taken when free, kept by its holder, renewed and released only by it', async () => {
    const { registry } = await registries();
    expect(await registry.leader()).toBeUndefined();
    expect(await registry.acquireLeader('w1', 10_000)).toBe(true);
    expect(await registry.acquireLeader('w2', 10_000)).toBe(false);
    // Its holder acquiring again keeps it (a worker that restarted its loop).
    expect(await registry.acquireLeader('w1', 20_000)).toBe(true);
    const leader = await registry.leader();
    expect(leader?.holder).toBe('w1');
    expect(leader?.ttlMs).toBeGreaterThan(10_000);
    expect(leader?.ttlMs).toBeLessThanOrEqual(20_000);

    expect(await registry.renewLeader('w2', 10_000)).toBe(false);
    expect(await registry.renewLeader('w1', 30_000)).toBe(true);
    expect((await registry.leader())?.ttlMs).toBeGreaterThan(20_000);

    expect(await registry.releaseLeader('w2')).toBe(false);
    expect((await registry.leader())?.holder).toBe('w1');
    expect(await registry.releaseLeader('w1')).toBe(true);
    expect(await registry.leader()).toBeUndefined();
    expect(await registry.renewLeader('w1', 10_000)).toBe(false);
    expect(await registry.acquireLeader('w2', 10_000)).toBe(true);
  });

  it('lapses by its TTL: its holder can no longer renew it, and another takes it', async () => {
    const { registry } = await registries();
    expect(await registry.acquireLeader('w1', 100)).toBe(true);
    await until('the lease to lapse', async () => (await registry.leader()) === undefined);
    expect(await registry.renewLeader('w1', 10_000)).toBe(false);
    expect(await registry.acquireLeader('w2', 10_000)).toBe(true);
    expect(await registry.renewLeader('w1', 10_000)).toBe(false);
    expect((await registry.leader())?.holder).toBe('w2');
  });

  it('goes to exactly one of many workers acquiring at once, round after round', async () => {
    const { registry, others } = await registries();
    for (let round = 0; round < 10; round++) {
      const won = await Promise.all(others.map((r, i) => r.acquireLeader(`w${round}.${i}`, 10_000)));
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won.indexOf(true);
      expect((await registry.leader())?.holder).toBe(`w${round}.${winner}`);
      expect(await registry.releaseLeader(`w${round}.${winner}`)).toBe(true);
    }
  });
});

describe('epoch', () => {
  it('takeEpoch gives max(current, floor) + 1, never below the floor', async () => {
    const { registry } = await registries();
    expect(await registry.takeEpoch('shop', 0)).toBe(2);
    expect(await registry.takeEpoch('shop', 10)).toBe(11);
    expect(await registry.takeEpoch('shop', 3)).toBe(12);
    expect((await registry.component('shop'))?.epoch).toBe(12);
    let previous = 12;
    for (const floor of [0, 5, 40, 41, 7, 100, 100, 1]) {
      const epoch = await registry.takeEpoch('shop', floor);
      expect(epoch).toBe(Math.max(previous, floor) + 1);
      previous = epoch;
    }
  });

  it('property: every epoch taken is above its floor and above every epoch taken before', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(1_000_000), { minLength: 1, maxLength: 20 }), async (floors) => {
        const { registry } = await registries();
        let highest = 1;
        for (const floor of floors) {
          const epoch = await registry.takeEpoch('shop', floor);
          expect(epoch).toBe(Math.max(highest, floor) + 1);
          highest = epoch;
        }
        expect((await registry.component('shop'))?.epoch).toBe(highest);
      }),
      { numRuns: 50 },
    );
  });

  it('takeEpoch for a leader: only while it holds the leader lease, nothing written otherwise', async () => {
    const { registry } = await registries();
    expect(await registry.acquireLeader('w1', 60_000)).toBe(true);
    expect(await registry.takeEpoch('shop', 0, 'w1')).toBe(2);
    // w1 paused past its lease; w2 leads now: w1's take on its stale view is refused.
    expect(await registry.releaseLeader('w1')).toBe(true);
    expect(await registry.acquireLeader('w2', 60_000)).toBe(true);
    await expect(registry.takeEpoch('shop', 0, 'w1')).rejects.toThrow(
      'w1 no longer leads the election: no epoch taken',
    );
    expect((await registry.component('shop'))?.epoch).toBe(2);
    expect(await registry.takeEpoch('shop', 0, 'w2')).toBe(3);
    // An operator's activation (no leader) is not bound to the lease.
    expect(await registry.takeEpoch('shop', 0)).toBe(4);
  });

  it('takeEpoch refuses an unknown component and writes nothing', async () => {
    const { registry } = await registries();
    const error = await registry.takeEpoch('nope', 5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({
      code: 'unknown-component',
      message: 'component nope is not in the registry',
    });
    expect(await connection.exists(registry.keys.component('nope'))).toBe(0);
  });

  it('gives every one of many concurrent takers its own epoch', async () => {
    const { registry, others } = await registries();
    const epochs = await Promise.all(others.flatMap((r) => [r.takeEpoch('shop', 1), r.takeEpoch('shop', 1)]));
    expect([...epochs].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));
    expect((await registry.component('shop'))?.epoch).toBe(17);
  });

  it('after Redis lost everything (FLUSHALL), continues above the floor the instances remember', async () => {
    const { registry } = await registries();
    const before = await registry.takeEpoch('shop', 6);
    expect(before).toBe(7);
    await connection.flushall();
    await expect(registry.takeEpoch('shop', before)).rejects.toMatchObject({ code: 'unknown-component' });
    // Registered again as `pullback up` does, knowing nothing (epoch 1): the floor, read
    // from the instances' agents, keeps the next epoch above every one used.
    await registry.registerConfig(CONFIG);
    expect((await registry.component('shop'))?.epoch).toBe(1);
    expect(await registry.takeEpoch('shop', before)).toBe(before + 1);
    // Registered with the floor itself (the lowest epoch allowed), likewise.
    await connection.flushall();
    await registry.registerConfig(CONFIG, { shop: before + 1 });
    expect(await registry.takeEpoch('shop', before + 1)).toBe(before + 2);
  });
});

describe('active lease', () => {
  it('is taken only when free and at the registry epoch', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-b', epoch - 1, 10_000)).toEqual({
      ok: false,
      reason: 'stale-epoch',
      epoch,
    });
    expect(await registry.acquireActiveLease('shop', 'shop-b', epoch + 1, 10_000)).toEqual({
      ok: false,
      reason: 'stale-epoch',
      epoch,
    });
    expect(await registry.activeLease('shop')).toBeUndefined();
    expect(await registry.acquireActiveLease('shop', 'shop-b', epoch, 10_000)).toEqual({ ok: true });
    const lease = await registry.activeLease('shop');
    expect(lease).toMatchObject({ instance: 'shop-b', epoch });
    expect(lease?.ttlMs).toBeGreaterThan(0);
    expect(lease?.ttlMs).toBeLessThanOrEqual(10_000);
    expect(await connection.get(registry.keys.activeLease('shop'))).toBe(`shop-b@${epoch}`);
    // Held: never over it, not even by its holder (SET NX) nor at the same epoch.
    expect(await registry.acquireActiveLease('shop', 'shop-c', epoch, 10_000)).toEqual({
      ok: false,
      reason: 'held',
      holder: `shop-b@${epoch}`,
    });
    expect(await registry.acquireActiveLease('shop', 'shop-b', epoch, 10_000)).toMatchObject({
      reason: 'held',
    });
    expect(await registry.acquireActiveLease('nope', 'x', 1, 10_000)).toEqual({
      ok: false,
      reason: 'stale-epoch',
      epoch: undefined,
    });
  });

  it('is renewed only by its holder at its epoch while that is the registry epoch', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-b', epoch, 5_000)).toEqual({ ok: true });
    expect(await registry.renewActiveLease('shop', 'shop-b', epoch, 20_000)).toEqual({ ok: true });
    expect((await registry.activeLease('shop'))?.ttlMs).toBeGreaterThan(5_000);
    expect(await registry.renewActiveLease('shop', 'shop-c', epoch, 20_000)).toEqual({
      ok: false,
      reason: 'held',
      holder: `shop-b@${epoch}`,
    });
    expect(await registry.renewActiveLease('shop', 'shop-b', epoch - 1, 20_000)).toMatchObject({
      reason: 'stale-epoch',
    });
    expect(await registry.renewActiveLease('nope', 'shop-b', epoch, 20_000)).toEqual({
      ok: false,
      reason: 'stale-epoch',
      epoch: undefined,
    });
  });

  it('cannot be renewed once an activation took a newer epoch, and is never extended by the attempt', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-a', epoch, 10_000)).toEqual({ ok: true });
    const newer = await registry.takeEpoch('shop', 0);
    const ttlBefore = (await registry.activeLease('shop'))?.ttlMs ?? 0;
    expect(await registry.renewActiveLease('shop', 'shop-a', epoch, 60_000)).toEqual({
      ok: false,
      reason: 'stale-epoch',
      epoch: newer,
    });
    expect((await registry.activeLease('shop'))?.ttlMs).toBeLessThanOrEqual(ttlBefore);
    // The new active cannot take it while the old lease lives either: it waits for the lapse.
    expect(await registry.acquireActiveLease('shop', 'shop-b', newer, 10_000)).toMatchObject({
      reason: 'held',
    });
  });

  it('renewals racing an activation: every renewal sent after takeEpoch answered fails', async () => {
    const { registry, others } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-a', epoch, 30_000)).toEqual({ ok: true });
    let taken = false;
    const renewer = others[0]!;
    const renewals = (async () => {
      const after: boolean[] = [];
      while (!taken || after.length < 20) {
        const takenBefore = taken;
        const outcome = await renewer.renewActiveLease('shop', 'shop-a', epoch, 30_000);
        if (takenBefore) after.push(outcome.ok);
      }
      return after;
    })();
    await others[1]!.takeEpoch('shop', 0);
    taken = true;
    expect((await renewals).every((ok) => !ok)).toBe(true);
  });

  it('that lapsed is gone: its holder cannot renew it and the next active takes it', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-a', epoch, 100)).toEqual({ ok: true });
    const newer = await registry.takeEpoch('shop', 0);
    await until('the lease to lapse', async () => (await registry.activeLease('shop')) === undefined);
    expect(await registry.renewActiveLease('shop', 'shop-a', epoch, 10_000)).toMatchObject({ ok: false });
    expect(await registry.acquireActiveLease('shop', 'shop-b', newer, 10_000)).toEqual({ ok: true });
    expect(await registry.activeLease('shop')).toMatchObject({ instance: 'shop-b', epoch: newer });

    // At the same epoch, a lapse is `lapsed` to its holder.
    await registry.releaseActiveLease('shop', 'shop-b', newer);
    expect(await registry.renewActiveLease('shop', 'shop-b', newer, 10_000)).toEqual({
      ok: false,
      reason: 'lapsed',
    });
  });

  it('is released only by its holder at its epoch', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.acquireActiveLease('shop', 'shop-a', epoch, 10_000)).toEqual({ ok: true });
    expect(await registry.releaseActiveLease('shop', 'shop-b', epoch)).toBe(false);
    expect(await registry.releaseActiveLease('shop', 'shop-a', epoch - 1)).toBe(false);
    expect(await registry.activeLease('shop')).toMatchObject({ instance: 'shop-a' });
    expect(await registry.releaseActiveLease('shop', 'shop-a', epoch)).toBe(true);
    expect(await registry.activeLease('shop')).toBeUndefined();
  });

  it('goes to exactly one of many instances acquiring at once', async () => {
    const { registry, others } = await registries();
    for (let round = 0; round < 5; round++) {
      const epoch = await registry.takeEpoch('shop', 0);
      const outcomes = await Promise.all(
        others.map((r, i) => r.acquireActiveLease('shop', `shop-${round}.${i}`, epoch, 10_000)),
      );
      const winners = outcomes.flatMap((o, i) => (o.ok ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await registry.activeLease('shop')).toMatchObject({
        instance: `shop-${round}.${winners[0]}`,
        epoch,
      });
      expect(outcomes.filter((o) => !o.ok && o.reason === 'held')).toHaveLength(others.length - 1);
      await registry.releaseActiveLease('shop', `shop-${round}.${winners[0]}`, epoch);
    }
  });
});

describe('setActive', () => {
  it('makes the instance the active and every other a fallback, at the epoch', async () => {
    const { registry } = await registries();
    const epoch = await registry.takeEpoch('shop', 0);
    expect(await registry.setActive('shop', 'shop-c', epoch)).toEqual({ ok: true });
    expect(await registry.component('shop')).toMatchObject({ epoch, active: 'shop-c' });
    expect(await roles(registry)).toEqual([
      ['shop-a', 'fallback', String(epoch)],
      ['shop-b', 'fallback', String(epoch)],
      ['shop-c', 'active', String(epoch)],
    ]);
  });

  it('is refused, writing nothing, once the registry epoch moved past', async () => {
    const { registry } = await registries();
    const mine = await registry.takeEpoch('shop', 0);
    const theirs = await registry.takeEpoch('shop', 0);
    const before = await roles(registry);
    expect(await registry.setActive('shop', 'shop-b', mine)).toEqual({ ok: false, epoch: theirs });
    expect(await roles(registry)).toEqual(before);
    expect(await registry.component('shop')).toMatchObject({ epoch: theirs, active: 'shop-a' });
  });

  it('raises a registry epoch below its own (a registry registered again after it was lost)', async () => {
    const { registry } = await registries();
    expect(await registry.setActive('shop', 'shop-b', 9)).toEqual({ ok: true });
    expect(await registry.component('shop')).toMatchObject({ epoch: 9, active: 'shop-b' });
    expect(await registry.takeEpoch('shop', 0)).toBe(10);
  });

  it('refuses an unknown component or an instance not in it', async () => {
    const { registry } = await registries();
    await expect(registry.setActive('nope', 'shop-a', 2)).rejects.toThrow(
      'component nope is not in the registry',
    );
    await expect(registry.setActive('shop', 'web-a', 2)).rejects.toThrow(
      'instance web-a is not in component shop',
    );
    expect(await registry.component('shop')).toMatchObject({ epoch: 1, active: 'shop-a' });
  });

  it('of two activations racing, only the newer epoch writes, whichever comes first', async () => {
    for (const olderFirst of [true, false]) {
      const { registry, others } = await registries();
      const older = await others[0]!.takeEpoch('shop', 0);
      const newer = await others[1]!.takeEpoch('shop', 0);
      const activateOlder = () => others[0]!.setActive('shop', 'shop-b', older);
      const activateNewer = () => others[1]!.setActive('shop', 'shop-c', newer);
      const [olderOutcome, newerOutcome] = olderFirst
        ? await Promise.all([activateOlder(), activateNewer()])
        : await Promise.all([activateNewer(), activateOlder()]).then(([n, o]) => [o, n] as const);
      expect(olderOutcome).toEqual({ ok: false, epoch: newer });
      expect(newerOutcome).toEqual({ ok: true });
      expect(await registry.component('shop')).toMatchObject({ epoch: newer, active: 'shop-c' });
      expect((await roles(registry)).filter(([, role]) => role === 'active')).toEqual([
        ['shop-c', 'active', String(newer)],
      ]);
    }
  });
});

describe('agent heartbeats', () => {
  it('are read back with their age on Redis clock, whatever the agent clock says', async () => {
    const { registry } = await registries();
    expect(await registry.agent('shop-a')).toBeUndefined();
    const report = {
      holder: 'host-a:41',
      role: 'active',
      epoch: 3,
      serverRunning: true,
      at: '2020-01-01T00:00:00.000Z',
    } as const;
    await registry.reportAgent('shop-a', report);
    const heartbeat = await registry.agent('shop-a');
    expect(heartbeat).toMatchObject(report);
    expect(heartbeat?.ageMs).toBeGreaterThanOrEqual(0);
    expect(heartbeat?.ageMs).toBeLessThan(5_000);
    // Silent: the age grows until the next report.
    await until('the heartbeat to age', async () => ((await registry.agent('shop-a'))?.ageMs ?? 0) >= 1000);
    await registry.reportAgent('shop-a', { ...report, serverRunning: false });
    const next = await registry.agent('shop-a');
    expect(next).toMatchObject({ serverRunning: false });
    expect(next?.ageMs).toBeLessThan(1000);
  });
});

describe('activation history', () => {
  it('lists the newest first, capped', async () => {
    const prefix = testPrefix();
    const registry = new Registry(connection, { prefix, activationsKept: 2 });
    const record = (epoch: number) => ({
      epoch,
      from: 'shop-a',
      to: 'shop-b',
      at: `2025-01-0${epoch}T00:00:00.000Z`,
      reason: 'failover: shop-a failed',
      by: 'host:1',
      ...(epoch === 3 ? { lostBytes: 8192 } : {}),
    });
    expect(await registry.activations('shop')).toEqual([]);
    for (const epoch of [2, 3, 4]) await registry.recordActivation('shop', record(epoch));
    expect(await registry.activations('shop')).toEqual([record(4), record(3)]);
    expect(await registry.activations('shop', 1)).toEqual([record(4)]);
  });

  it('counts every activation, past the cap of the list (pullback_activations_total)', async () => {
    const registry = new Registry(connection, { prefix: testPrefix(), activationsKept: 2 });
    expect(await registry.activationCount('shop')).toBe(0);
    for (const epoch of [2, 3, 4]) {
      await registry.recordActivation('shop', {
        epoch,
        to: 'shop-b',
        at: new Date().toISOString(),
        reason: 'switchover',
        by: 'cli',
      });
    }
    expect(await registry.activationCount('shop')).toBe(3);
    expect(await registry.activations('shop')).toHaveLength(2);
    expect(await registry.activationCount('other')).toBe(0);
  });
});
