import { describe, expect, it } from 'vitest';
import { AgentClient } from '../src/index.js';
import { electionScene } from './election-scene.js';
import { AGENT_TOKEN, type ElectionWorld, isWritable, waitLong, watchWritable } from './election-world.js';
import { killActiveHost } from './race-helpers.js';

const scene = electionScene();

const agentOf = (m: { name: string; agentPort: number }) => ({
  instance: m.name,
  url: `http://127.0.0.1:${m.agentPort}`,
});

/**
 * What an activation did before it was cut short: shop-a's host died and its lease
 * lapsed (as after Redis lost its data), epoch 2 was taken in the registry (still
 * naming shop-a) and recorded on shop-b and shop-c naming shop-b.
 */
async function recordEpochNamingB(w: ElectionWorld): Promise<{ epoch: number; agents: AgentClient }> {
  const registry = w.pipeline.registry;
  await killActiveHost(w);
  await waitLong("shop-a's lease lapsed", async () =>
    (await registry.activeLease('shop')) === undefined ? true : undefined,
  );
  const epoch = await registry.takeEpoch('shop', 1);
  const agents = new AgentClient({ agentToken: AGENT_TOKEN });
  for (const m of [w.members.b, w.members.c]) {
    expect(await agents.recordEpoch(agentOf(m), epoch, 'shop-b')).toEqual({ outcome: 'accepted' });
  }
  return { epoch, agents };
}

describe('an activation cut short before its promotion', () => {
  it('the registry naming a standby active at its recorded epoch: the election finishes that activation at the same epoch, never two writable', async () => {
    const w = await scene.ready('election-unfinished');
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      // What a registry restored from the instances' records says after an activation that
      // recorded epoch 2 naming shop-b on the agents and was cut short before promoting it.
      const { epoch } = await recordEpochNamingB(w);
      expect(await registry.setActive('shop', 'shop-b', epoch)).toMatchObject({ ok: true });
      await waitLong("shop-b's agent holds the lease at the recorded epoch", async () =>
        (await registry.activeLease('shop'))?.instance === 'shop-b' ? true : undefined,
      );
      expect(await isWritable(b.port)).toBe(false);

      const election = await scene.election('election-1');
      await waitLong('the activation finished', async () =>
        election.failovers.length > 0 ? true : undefined,
      );
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      const { overlaps } = await writable.stop();
      expect(overlaps).toBe(0);
      expect(election.failovers).toEqual([
        {
          ok: true,
          to: 'shop-b',
          epoch,
          line: expect.stringMatching(
            /^activation of shop finished: shop-b is the active at epoch 2, as the instances record/,
          ),
        },
      ]);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-b', epoch });
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({
          epoch,
          to: 'shop-b',
          reason: 'finishing an activation cut short before its promotion',
          by: 'election-1',
        }),
      ]);
      expect(await isWritable(c.port)).toBe(false);
      expect(await isWritable(a.port)).toBe(false);
    } finally {
      await writable.stop();
    }
  });

  it('an activation done but its naming lost (Redis came back from a save made before it): the election finishes it at its epoch within seconds, no second failover', async () => {
    const w = await scene.ready('election-lost-naming');
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      // What an activation did before Redis lost its last writes: epoch 2 taken (saved),
      // recorded on the instances naming shop-b, shop-b promoted; the registry still names shop-a.
      const { epoch, agents } = await recordEpochNamingB(w);
      expect(await agents.promote(agentOf(b), epoch)).toMatchObject({ ok: true });
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-a', epoch });

      const started = Date.now();
      const election = await scene.election('election-1');
      await waitLong('the activation finished', async () =>
        election.failovers.length > 0 ? true : undefined,
      );
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      // Well before the grace (30 s) after which shop-a would be failed over again at epoch 3.
      expect(Date.now() - started).toBeLessThan(25_000);
      const { overlaps } = await writable.stop();
      expect(overlaps).toBe(0);
      expect(election.failovers).toEqual([
        expect.objectContaining({
          ok: true,
          to: 'shop-b',
          epoch,
          line: expect.stringMatching(/^activation of shop finished: shop-b is the active at epoch 2/),
        }),
      ]);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-b', epoch });
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({
          epoch,
          to: 'shop-b',
          reason: 'finishing an activation whose naming in Redis was lost',
          by: 'election-1',
        }),
      ]);
      expect(await isWritable(c.port)).toBe(false);
      expect(await isWritable(a.port)).toBe(false);
    } finally {
      await writable.stop();
    }
  });
});
