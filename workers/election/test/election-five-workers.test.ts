import { describe, expect, it } from 'vitest';
import { electionScene } from './election-scene.js';
import { isWritable, waitLong, watchWritable } from './election-world.js';
import { type inProcessElection, killActiveHost } from './race-helpers.js';

const scene = electionScene();

describe('five election workers at once', () => {
  it("the active's host dies: one leads at a time, exactly one activation at epoch 2, never two writable", async () => {
    const w = await scene.ready('election-five-workers');
    const { a, b, c } = w.members;
    const workers: Awaited<ReturnType<typeof inProcessElection>>[] = [];
    for (let i = 1; i <= 5; i++) {
      const worker = await scene.election(`election-${i}`);
      workers.push(worker);
    }
    let manyLed = 0;
    let samples = 0;
    const leaders = setInterval(() => {
      samples++;
      if (workers.filter((worker) => worker.running.leads()).length > 1) manyLed++;
    }, 20);
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      const leader = await waitLong('one leads and sees shop-a healthy', async () =>
        workers.find((worker) => worker.running.leads() && worker.verdicts.at(-1)?.state === 'healthy'),
      );
      await killActiveHost(w);
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      await waitLong('the failover done', async () =>
        workers.some((worker) => worker.failovers.length > 0) ? true : undefined,
      );
      // Whoever leads goes on watching the new active, healthy, with no second activation.
      const seen = leader.verdicts.length;
      await waitLong('the leader sees shop-b healthy a few times', async () =>
        leader.verdicts.slice(seen).filter((verdict) => verdict.state === 'healthy').length >= 5
          ? true
          : undefined,
      );
      const { rounds, overlaps } = await writable.stop();
      clearInterval(leaders);
      console.log(`five election workers: ${samples} leadership samples, ${rounds} writability rounds`);
      expect(rounds).toBeGreaterThan(10);
      expect(overlaps).toBe(0);
      expect(manyLed).toBe(0);
      expect(workers.flatMap((worker) => worker.failovers)).toEqual([
        expect.objectContaining({ ok: true, to: 'shop-b', epoch: 2 }),
      ]);
      // The others never observed, so never acted.
      for (const other of workers.filter((worker) => worker !== leader)) expect(other.verdicts).toEqual([]);
      expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-b', epoch: 2 });
      const activations = await w.pipeline.registry.activations('shop');
      expect(activations).toEqual([
        expect.objectContaining({ epoch: 2, from: 'shop-a', to: 'shop-b', by: leader.running.holder }),
      ]);
      expect(await isWritable(c.port)).toBe(false);
    } finally {
      clearInterval(leaders);
      await writable.stop();
    }
  });
});
