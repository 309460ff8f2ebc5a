import type { Verdict } from '@pullback/election';
import { type RedisSentinels, startRedisSentinels } from '@pullback/harness';
import { afterEach, describe, expect, it } from 'vitest';
import { type FailoverOutcome, type RunningElection, startElection } from '../src/index.js';
import { type ElectionWorld, electionWorld, isWritable, waitLong, watchWritable } from './election-world.js';

let set: RedisSentinels | undefined;
let world: ElectionWorld | undefined;
const elections: RunningElection[] = [];

afterEach(async () => {
  for (const election of elections.splice(0)) await election.close().catch(() => {});
  await world?.close();
  world = undefined;
  await set?.stop();
  set = undefined;
}, 180_000);

/** The epoch an instance's agent has recorded, from its /health (undefined when it does not answer). */
async function recordedEpoch(agentPort: number): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${agentPort}/health`, {
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  if (response === undefined) return undefined;
  const health = (await response.json().catch(() => ({}))) as { epoch?: number | null };
  return health.epoch ?? undefined;
}

describe('the Redis master killed under Sentinel in the middle of a failover', () => {
  // 'suspect': inside the election's delay; 'failed': as the leader starts the activation.
  it.each([
    ['the delay', 'suspect'],
    ['the activation', 'failed'],
  ] as const)(
    'killed during %s, two election workers: never two activations at one epoch, one active in the end, never two writable, the epoch never behind',
    {
      timeout: 300_000,
    },
    async (_when, killAt) => {
      set = await startRedisSentinels();
      world = await electionWorld(set, 'election-sentinel');
      const w = world;
      const { a, b, c } = w.members;
      await w.writeAndSettle('before the failover');
      await w.reportHealthy('shop-b');
      await w.reportHealthy('shop-c');
      await waitLong("shop-a's agent holds the active lease", async () =>
        (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined,
      );
      // Replicated before the master dies, so that the promoted replica knows the component.
      expect(await w.pipeline.connection.wait(1, 30_000)).toBe(1);
      const workers = await Promise.all(
        ['election-1', 'election-2'].map(async (holder) => {
          const verdicts: Verdict[] = [];
          const failovers: FailoverOutcome[] = [];
          const running = await startElection(w.config, {
            pipeline: w.pipeline,
            holder,
            onObservation: (_component, _observation, verdict) => verdicts.push(verdict),
            onFailover: (_component, outcome) => failovers.push(outcome),
            log: () => {},
          });
          elections.push(running);
          return { running, verdicts, failovers };
        }),
      );
      await waitLong('one leads and sees shop-a healthy', async () =>
        workers.some((worker) => worker.running.leads() && worker.verdicts.at(-1)?.state === 'healthy')
          ? true
          : undefined,
      );
      const writable = watchWritable([a.port, b.port, c.port]);
      const diedAt = Date.now();
      await Promise.all([w.stopAgent('shop-a'), w.active.crash()]);
      await waitLong(`a verdict on shop-a: ${killAt}`, async () =>
        workers.some((worker) => worker.verdicts.at(-1)?.state === killAt) ? true : undefined,
      );
      const suspectedAt = Date.now();
      await set.primary.kill();
      await set.waitForMaster(set.replica.port, 120_000);
      const writableOne = await waitLong('a fallback takes writes', async () =>
        (await isWritable(b.port)) ? 'shop-b' : (await isWritable(c.port)) ? 'shop-c' : undefined,
      );
      const tookMs = Date.now() - diedAt;
      // Settle: the leader sees the new active healthy a few times, no second activation meanwhile.
      await waitLong('the leader sees the new active healthy a few times', async () =>
        workers.some(
          (worker) =>
            worker.running.leads() &&
            worker.verdicts.slice(-5).length === 5 &&
            worker.verdicts.slice(-5).every((verdict) => verdict.state === 'healthy'),
        )
          ? true
          : undefined,
      );
      const { rounds, overlaps } = await writable.stop();
      const succeeded = workers
        .flatMap((worker) => worker.failovers.flatMap((outcome) => (outcome.ok ? [outcome] : [])))
        .sort((x, y) => x.epoch - y.epoch);
      console.log(
        `sentinel (${killAt}): master killed ${suspectedAt - diedAt} ms after the host died; ${writableOne} writable ${tookMs} ms after it (${rounds} checks); failovers ${JSON.stringify(workers.map((worker) => worker.failovers))}`,
      );

      expect(overlaps).toBe(0);
      // Never two activations at one epoch (the compare-and-set on the agents). A second,
      // later one can happen: the Redis failover can lose the new active's lease, so its
      // agent demotes it and the election fails over again, at a newer epoch.
      const epochs = succeeded.map((outcome) => outcome.epoch);
      expect(succeeded.length).toBeGreaterThanOrEqual(1);
      expect(new Set(epochs).size).toBe(epochs.length);
      const names = ['shop-a', 'shop-b', 'shop-c'];
      const writableNow = await Promise.all([a.port, b.port, c.port].map(isWritable));
      expect(writableNow.filter(Boolean)).toHaveLength(1);
      const component = await w.pipeline.registry.component('shop');
      expect(component?.active).toBe(names[writableNow.indexOf(true)]);
      expect(component?.active).toBe(succeeded.at(-1)?.to);
      expect(component?.epoch).toBe(epochs.at(-1));
      for (const m of [b, c]) {
        const recorded = await recordedEpoch(m.agentPort);
        expect(recorded).toBeDefined();
        expect(component?.epoch).toBeGreaterThanOrEqual(recorded ?? Number.POSITIVE_INFINITY);
      }
    },
  );
});
