import { query } from '@pullback/recipe-postgres';
import { describe, expect, it } from 'vitest';
import { electionScene } from './election-scene.js';
import { isWritable, replayed, waitLong, watchWritable } from './election-world.js';
import { killActiveHost } from './race-helpers.js';

const scene = electionScene();

const MAX_LAG_BYTES = 64 * 1024;

describe('a fallback too far behind', () => {
  it('is not chosen, though of higher priority: the fresh one is activated and the failover line says why', async () => {
    const w = await scene.ready('election-stale-fallback', {
      election: `{ maxLagBytes: ${MAX_LAG_BYTES} }`,
    });
    const { a, b, c } = w.members;
    const atB = { host: '127.0.0.1', port: b.port };
    // shop-b (priority 50, above shop-c's 40) stops replaying; the active writes well past maxLagBytes.
    await query(atB, 'select pg_wal_replay_pause()');
    await w.active.psql(`insert into marker select 'bulk ' || i from generate_series(1, 20000) i`);
    const end = await w.active.psql('select pg_current_wal_lsn()');
    await waitLong('shop-c at the active end', async () =>
      (await replayed(c.port)) === end ? true : undefined,
    );
    // Both report healthy where they are, as their import agents would; the archive holds it all.
    await w.reportHealthy('shop-b');
    await w.reportHealthy('shop-c');
    await w.pipeline.registry.reportWalReceiver('shop', {
      holder: 'wal-receiver-of-the-test',
      streaming: true,
      synchronous: false,
      slot: 'pullback_shop',
      archivedLsn: end,
      updatedAt: new Date().toISOString(),
    });
    const staleAt = await replayed(b.port);
    const election = await scene.election('election-1');
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.running.leads() && election.verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );
    const writable = watchWritable([a.port, b.port, c.port]);
    try {
      await killActiveHost(w);
      await waitLong('the failover done', async () => (election.failovers.length > 0 ? true : undefined));
      await waitLong('shop-c takes writes', async () => ((await isWritable(c.port)) ? true : undefined));
      const { overlaps } = await writable.stop();
      expect(overlaps).toBe(0);
      expect(election.failovers).toEqual([expect.objectContaining({ ok: true, to: 'shop-c', epoch: 2 })]);
      const line = election.lines.find((l) => l.startsWith('failover of shop:'));
      expect(line).toMatch(
        new RegExp(
          `^failover of shop: shop-a failed, shop-c is the active at epoch 2; lost: .*; left out: shop-b is behind the archive by \\d+ bytes \\(more than maxLagBytes ${MAX_LAG_BYTES}\\)$`,
        ),
      );
      const behind = Number(/behind the archive by (\d+) bytes/.exec(line ?? '')?.[1]);
      expect(behind).toBeGreaterThan(MAX_LAG_BYTES);
      expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-c', epoch: 2 });
      expect(await w.pipeline.registry.activations('shop')).toEqual([
        expect.objectContaining({ epoch: 2, from: 'shop-a', to: 'shop-c', by: 'election-1' }),
      ]);
      expect(await isWritable(b.port)).toBe(false);
      expect(await query({ host: '127.0.0.1', port: c.port }, 'select count(*) from marker')).toBe('20001');
      expect(staleAt).not.toBe(end);
    } finally {
      await writable.stop();
    }
  });
});
