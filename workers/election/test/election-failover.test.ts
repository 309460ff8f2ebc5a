import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { describe, expect, it } from 'vitest';
import { electionScene } from './election-scene.js';
import { type ElectionWorld, isWritable, waitLong, watchWritable } from './election-world.js';

const scene = electionScene();

/** The active's host dies: its agent stops (no heartbeat, no renewals) and its postmaster is killed. */
async function killActiveHost(w: ElectionWorld): Promise<number> {
  const diedAt = Date.now();
  await Promise.all([w.stopAgent('shop-a'), w.active.crash()]);
  return diedAt;
}

/** shop-b is the active at epoch 2, shop-c streams from it, and the history says why. */
async function expectFailedOverToB(w: ElectionWorld, by: string): Promise<void> {
  const { b, c } = w.members;
  const component = await w.pipeline.registry.component('shop');
  expect(component).toMatchObject({ active: 'shop-b', epoch: 2 });
  expect(await isWritable(b.port)).toBe(true);
  expect(await isWritable(c.port)).toBe(false);
  expect(await query({ host: '127.0.0.1', port: b.port }, 'select status from marker')).toBe(
    'before the failover',
  );
  expect(w.agentLines.filter((line) => line.includes('demoting'))).toEqual([]);
  const activations = await w.pipeline.registry.activations('shop');
  expect(activations).toHaveLength(1);
  expect(activations[0]).toMatchObject({
    epoch: 2,
    from: 'shop-a',
    to: 'shop-b',
    reason: 'failover: shop-a failed',
    by,
  });
  // The other fallback follows the new active on its new timeline.
  await query({ host: '127.0.0.1', port: b.port }, "update marker set status = 'after the failover'");
  await waitLong('shop-c replays the new active', async () =>
    (await query({ host: '127.0.0.1', port: c.port }, 'select status from marker').catch(() => '')) ===
    'after the failover'
      ? true
      : undefined,
  );
}

describe('the election worker fails over', () => {
  it("the active's host dies: the best fallback is promoted within the delay plus a few seconds, the other follows it", async () => {
    const w = await scene.ready('election-failover');
    const { a, b, c } = w.members;
    const one = await scene.election('election-1');
    await waitLong('the election leads and sees shop-a healthy', async () =>
      one.running.leads() && one.verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    const writable = watchWritable([a.port, b.port, c.port]);
    const diedAt = await killActiveHost(w);
    await waitLong('shop-b is the active', async () =>
      (await w.pipeline.registry.component('shop'))?.active === 'shop-b' ? true : undefined,
    );
    await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
    const tookMs = Date.now() - diedAt;
    await waitLong('the failover done', async () => (one.failovers.length > 0 ? true : undefined));
    const { rounds, overlaps } = await writable.stop();
    console.log(
      `election failover: shop-b writable ${tookMs} ms after shop-a's host died (${rounds} checks)`,
    );
    // Signals held from about agentSilentMs after the death, for failoverDelayMs, then the activation.
    const { agentSilentMs, failoverDelayMs } = ELECTION_SETTING_DEFAULTS;
    expect(tookMs).toBeLessThan(agentSilentMs + failoverDelayMs + 11_000);
    expect(overlaps).toBe(0);
    // Failed only once both signals held together for the whole delay.
    const failed = one.verdicts.find((verdict) => verdict.state === 'failed');
    expect(failed).toBeDefined();
    expect(one.failovers).toEqual([expect.objectContaining({ ok: true, to: 'shop-b', epoch: 2 })]);
    await expectFailedOverToB(w, 'election-1');
  });

  it('an activation under way elsewhere (epoch taken, new active not named yet) holds the failover off until its grace ends', async () => {
    const w = await scene.ready('election-under-way');
    const graceMs = 8000;
    const one = await scene.election('election-1', { activationGraceMs: graceMs });
    await waitLong('the election leads and sees shop-a healthy', async () =>
      one.running.leads() && one.verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    // A switchover's step 2: an epoch taken; it shuts shop-a down on purpose next.
    const taken = await w.pipeline.registry.takeEpoch('shop', 1);
    expect(taken).toBe(2);
    const diedAt = await killActiveHost(w);
    await waitLong('a failover once the grace ended', async () =>
      one.failovers.length > 0 ? true : undefined,
    );
    const waitedMs = Date.now() - diedAt;
    // Not within the usual delay: the activation under way was given its grace first.
    expect(waitedMs).toBeGreaterThan(graceMs - 1000);
    expect(one.failovers[0]).toMatchObject({ ok: true, to: 'shop-b', epoch: 3 });
  });

  it('two election workers at once: exactly one leads, exactly one activation, never two instances writable', async () => {
    const w = await scene.ready('election-two-workers');
    const { a, b, c } = w.members;
    const workers = [await scene.election('election-1'), await scene.election('election-2')];
    let bothLed = 0;
    /** Each worker that led at some sample. */
    const led = new Set<string>();
    const leaders = setInterval(() => {
      if (workers.every((worker) => worker.running.leads())) bothLed++;
      for (const worker of workers) if (worker.running.leads()) led.add(worker.running.holder);
    }, 20);
    try {
      const leader = await waitLong('one leads and sees shop-a healthy', async () =>
        workers.find((worker) => worker.running.leads() && worker.verdicts.at(-1)?.state === 'healthy'),
      );
      const follower = workers.find((worker) => worker !== leader);
      expect((await w.pipeline.registry.leader())?.holder).toBe(leader.running.holder);
      const writable = watchWritable([a.port, b.port, c.port]);
      await killActiveHost(w);
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      await waitLong('the failover done', async () => (leader.failovers.length > 0 ? true : undefined));
      // Whoever leads goes on watching the new active: healthy, no second activation. (A
      // leader whose process stalls past its 3 s lease loses it to the other by design.)
      const seen = new Map(workers.map((worker) => [worker, worker.verdicts.length]));
      await waitLong('the leader sees shop-b healthy a few times', async () =>
        workers.some(
          (worker) =>
            worker.running.leads() &&
            worker.verdicts.slice(seen.get(worker)).filter((verdict) => verdict.state === 'healthy').length >=
              5,
        )
          ? true
          : undefined,
      ).catch(async (error: Error) => {
        // CI timed out here once with no cause given (ci19): say what the leader saw.
        const since = leader.verdicts.slice(seen.get(leader)).map((verdict) => JSON.stringify(verdict));
        const record = await w.pipeline.registry.component('shop');
        throw new Error(
          `${error.message}; ${since.length} verdicts since the failover, the last ${since.slice(-3).join(' ')}; leads: ${workers.map((worker) => worker.running.leads()).join(', ')}, the other observed ${follower?.verdicts.length}; shop: active ${record?.active} epoch ${record?.epoch}, shop-b's record epoch ${(await w.pipeline.registry.instance('shop-b'))?.epoch}, the WAL receiver ${JSON.stringify(record?.walReceiver)}; the leader's last lines: ${leader.lines.slice(-4).join(' | ')}`,
        );
      });
      const { overlaps } = await writable.stop();
      expect(overlaps).toBe(0);
      expect(bothLed).toBe(0);
      expect(leader.failovers).toEqual([expect.objectContaining({ ok: true, to: 'shop-b' })]);
      // The other never acted; while it never led, it never even observed.
      expect(follower?.failovers).toEqual([]);
      if (!led.has(follower?.running.holder ?? '')) expect(follower?.verdicts).toEqual([]);
      await expectFailedOverToB(w, leader.running.holder);
    } finally {
      clearInterval(leaders);
    }
  });
});
