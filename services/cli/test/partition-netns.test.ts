import type { Verdict } from '@pullback/election';
import { waitFor } from '@pullback/harness';
import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { type RunningElection, startElection } from '@pullback/worker-election';
import { afterAll, describe, expect, it } from 'vitest';
import { type PartitionWorld, partitionWorld } from './partition-world.js';

const waitLong = <T>(what: string, check: () => Promise<T | undefined>) => waitFor(what, check, 120_000);
const WRITABLE =
  "select not pg_is_in_recovery() and current_setting('default_transaction_read_only') = 'off'";

let world: PartitionWorld | undefined;
let election: RunningElection | undefined;
let passed = false;

afterAll(async () => {
  // What the agents said, when the test failed: the first thing to read.
  if (!passed) console.log(world?.output().slice(-4000));
  await election?.close().catch(() => {});
  await world?.close();
}, 240_000);

/** Whether a root-namespace instance takes writes now; false when it does not answer. */
async function writableOutside(port: number): Promise<boolean> {
  const answer = await query({ host: '127.0.0.1', port }, WRITABLE, {
    statementTimeoutMs: 3000,
    signal: AbortSignal.timeout(5000),
  }).catch(() => 'f');
  return answer === 't';
}

describe('the active cut off by a network partition (Linux network namespaces)', () => {
  it('stops taking writes by itself within its lease, a fallback takes over, never two writable', {
    timeout: 300_000,
  }, async () => {
    world = await partitionWorld('cli-partition-netns');
    const w = world;
    const writableInside = async () => (await w.psqlInside(WRITABLE).catch(() => 'f')) === 't';
    await waitLong("shop-a's agent (inside the namespace) holds the active lease", async () => {
      w.agentAlive();
      return (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined;
    });
    await w.psqlInside("update marker set status = 'before the partition'");
    await waitLong('both fallbacks at the active end', async () => {
      const end = await w.psqlInside('select pg_current_wal_lsn()');
      const positions = await Promise.all(
        [w.ports.b, w.ports.c].map((port) =>
          query({ host: '127.0.0.1', port }, 'select pg_last_wal_replay_lsn()'),
        ),
      );
      return positions.every((lsn) => lsn === end) ? true : undefined;
    });
    for (const [name, port] of [
      ['shop-b', w.ports.b],
      ['shop-c', w.ports.c],
    ] as const) {
      const lsn = await query({ host: '127.0.0.1', port }, 'select pg_last_wal_replay_lsn()');
      await w.pipeline.registry.reportFallback('shop', name, 1, {
        lsn,
        running: true,
        source: 'streaming',
        timeline: 1,
        healthy: true,
        updatedAt: new Date().toISOString(),
      });
    }
    const verdicts: Verdict[] = [];
    election = await startElection(w.config, {
      pipeline: w.pipeline,
      holder: 'election-1',
      onObservation: (_component, _observation, verdict) => verdicts.push(verdict),
      log: () => {},
    });
    const running = election;
    await waitLong('the election leads and sees shop-a healthy', async () =>
      running.leads() && verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    expect(await writableInside()).toBe(true);

    // Sample all three in rounds: shop-a from inside its namespace, the others from outside.
    let stopped = false;
    let rounds = 0;
    let overlaps = 0;
    const sampling = (async () => {
      while (!stopped) {
        const writable = await Promise.all([
          writableInside(),
          writableOutside(w.ports.b),
          writableOutside(w.ports.c),
        ]);
        rounds++;
        if (writable.filter(Boolean).length > 1) overlaps++;
      }
    })();

    const cutAt = Date.now();
    await w.partition();
    await waitLong('shop-a refuses writes by itself', async () =>
      (await writableInside()) ? undefined : true,
    );
    const demotedMs = Date.now() - cutAt;
    await waitLong('shop-b is the active', async () =>
      (await w.pipeline.registry.component('shop'))?.active === 'shop-b' ? true : undefined,
    );
    await waitLong('shop-b takes writes', async () =>
      (await writableOutside(w.ports.b)) ? true : undefined,
    );
    const failoverMs = Date.now() - cutAt;
    // A few more rounds with shop-b active: shop-a must stay read-only or down.
    const seen = rounds;
    await waitLong('a few rounds after the failover', async () => (rounds >= seen + 5 ? true : undefined));
    stopped = true;
    await sampling;
    console.log(
      `partition: shop-a read-only ${demotedMs} ms after the cut, shop-b writable ${failoverMs} ms after (${rounds} rounds)`,
    );

    const { activeLeaseMs } = ELECTION_SETTING_DEFAULTS;
    // Its deadline is its last renewal plus the lease: within it, plus the sampling's own time.
    expect(demotedMs).toBeLessThan(activeLeaseMs + 4000);
    expect(overlaps).toBe(0);
    expect(await writableInside()).toBe(false);
    expect(w.output()).toMatch(/shop-a: .*demot/);
    expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-b', epoch: 2 });
    const activations = await w.pipeline.registry.activations('shop');
    expect(activations).toEqual([expect.objectContaining({ epoch: 2, from: 'shop-a', to: 'shop-b' })]);
    expect(await query({ host: '127.0.0.1', port: w.ports.b }, 'select status from marker')).toBe(
      'before the partition',
    );
    passed = true;
  });
});
