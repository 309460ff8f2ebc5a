import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { describe, expect, it } from 'vitest';
import { electionScene } from './election-scene.js';
import { isWritable, waitLong, watchWritable } from './election-world.js';
import { type CliProcess, killActiveHost, spawnCli } from './race-helpers.js';

const scene = electionScene();

describe('an election worker paused past its lease', () => {
  it('SIGSTOPped mid-detection and resumed after the other took over: it does not act on its stale view, one activation, never two writable', async () => {
    const w = await scene.ready('election-paused-worker');
    const { a, b, c } = w.members;
    const registry = w.pipeline.registry;
    const ups = [0, 1].map(() => spawnCli(['up', '--roles', 'election', '--config', w.configPath]));
    for (const up of ups) scene.afterTest(() => killedEvenIfStopped(up));
    const holderOf = (up: CliProcess) => `:${up.child.pid}`;
    const leaderHolder = await waitLong(
      'an election worker leads',
      async () => (await registry.leader())?.holder,
    );
    const paused = ups.find((up) => leaderHolder.endsWith(holderOf(up)));
    const other = ups.find((up) => up !== paused);
    if (paused === undefined || other === undefined) throw new Error(`no process holds ${leaderHolder}`);
    await waitLong('the leader says so', async () =>
      paused.output().includes('leads the election') ? true : undefined,
    );
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      await killActiveHost(w);
      // Paused once both signals hold (shop-a's agent silent, its server gone), before the delay ends.
      await waitLong("shop-a's agent silent", async () => {
        const heartbeat = await registry.agent('shop-a');
        return heartbeat === undefined || heartbeat.ageMs > ELECTION_SETTING_DEFAULTS.agentSilentMs
          ? true
          : undefined;
      });
      paused.child.kill('SIGSTOP');
      const otherHolder = await waitLong('the other election worker leads', async () => {
        const holder = (await registry.leader())?.holder;
        return holder?.endsWith(holderOf(other)) ? holder : undefined;
      });
      await waitLong('shop-b is the active', async () =>
        (await registry.component('shop'))?.active === 'shop-b' ? true : undefined,
      );
      await waitLong('shop-b takes writes', async () => ((await isWritable(b.port)) ? true : undefined));
      paused.child.kill('SIGCONT');
      await waitLong('the resumed worker sees it no longer leads', async () =>
        paused.output().includes('no longer leads the election') ? true : undefined,
      );
      // Long enough for anything it would do on its stale view: the leader renews twice more.
      // A renewal shows as the lease's time to live going up between two reads.
      let renewals = 0;
      let lastTtl = Number.POSITIVE_INFINITY;
      await waitLong('two more renewals by the leader', async () => {
        const lease = await registry.leader();
        expect(lease?.holder).toBe(otherHolder);
        if ((lease?.ttlMs ?? 0) > lastTtl) renewals++;
        lastTtl = lease?.ttlMs ?? 0;
        return renewals >= 2 ? true : undefined;
      });
      const { rounds, overlaps } = await writable.stop();
      console.log(`paused election worker: ${rounds} writability rounds`);
      expect(overlaps).toBe(0);
      expect(await registry.component('shop')).toMatchObject({ active: 'shop-b', epoch: 2 });
      expect(await registry.activations('shop')).toEqual([
        expect.objectContaining({ epoch: 2, from: 'shop-a', to: 'shop-b', by: otherHolder }),
      ]);
      expect(paused.output()).not.toContain('failover of shop');
      expect(other.output()).toContain('failover of shop: shop-a failed, shop-b is the active at epoch 2');
      expect(await isWritable(c.port)).toBe(false);
      expect(paused.child.exitCode).toBeNull();
    } finally {
      await writable.stop();
    }
  });
});

/** Kills a command still running after its test; a stopped process takes no SIGKILL until continued. */
async function killedEvenIfStopped(up: CliProcess): Promise<void> {
  up.child.kill('SIGCONT');
  up.child.kill('SIGKILL');
  await up.exited;
}
