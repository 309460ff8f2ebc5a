import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Verdict } from '@pullback/election';
import { describeRestore, guardRegistry } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { describe, expect, it, onTestFailed } from 'vitest';
import { type FailoverOutcome, recordedOutsideRedis, startElection } from '../src/index.js';
import { electionScene } from './election-scene.js';
import { type ElectionWorld, isWritable, waitLong, watchWritable } from './election-world.js';

const scene = electionScene();

/**
 * What the fallbacks' import agents do every position round (workers/import): report
 * each fallback's replayed position at the registry's epoch, so a registry restored
 * after Redis lost it knows its candidates again. Stops reporting an instance the
 * registry no longer names a fallback.
 */
function reportPositions(w: ElectionWorld): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const m of [w.members.b, w.members.c]) {
        await (async () => {
          const registry = w.pipeline.registry;
          const [component, instance] = await Promise.all([
            registry.component('shop'),
            registry.instance(m.name),
          ]);
          if (component === undefined || instance?.role !== 'fallback') return;
          const endpoint = { host: '127.0.0.1', port: m.port };
          if ((await query(endpoint, 'select pg_is_in_recovery()')) !== 't') return;
          const lsn = await query(endpoint, 'select pg_last_wal_replay_lsn()');
          await registry.reportFallback('shop', m.name, component.epoch, {
            lsn,
            running: true,
            source: 'streaming',
            timeline: 1,
            healthy: true,
            updatedAt: new Date().toISOString(),
          });
        })().catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** How long after Redis came back a writable active must be there (docs/election.md "Redis lost its data"). */
const CONVERGED_WITHIN_MS = 30_000;

/** The epoch recorded on an instance (its agent's epoch.json), 0 when none. */
async function recordedEpoch(w: ElectionWorld, name: string): Promise<number> {
  const path = join(w.config.stateDir, 'instances', name, 'epoch.json');
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? 0 : (JSON.parse(text) as { epoch: number }).epoch;
}

const DELAY = 'inside the failover delay';
const ACTIVATION = 'after the activation took its epoch';
const AFTER = 'just after the failover';
const cases = [
  { restart: 'restarted', empty: false, when: DELAY },
  { restart: 'restarted empty', empty: true, when: DELAY },
  { restart: 'restarted', empty: false, when: ACTIVATION },
  // The registry restored from the instances' records names the activation's candidate
  // at its epoch (before: the config's dead active, and no bound on convergence).
  { restart: 'restarted empty', empty: true, when: ACTIVATION },
  // Not in the middle: the restored registry names the new active, as the instances record.
  { restart: 'restarted empty', empty: true, when: AFTER },
] as const;

describe('Redis restarted around a failover', () => {
  it.each(cases)(
    'Redis $restart $when: one active after, its epoch not behind any instance, the registry restored, never two writable',
    {
      timeout: 240_000,
    },
    async ({ empty, when }) => {
      const lines: string[] = [];
      const stamp = (line: string) => lines.push(`${new Date().toISOString()} ${line}`);
      onTestFailed(() => console.log([...lines, ...(scene.world?.agentLines ?? [])].join('\n')));
      const w = await scene.newWorld(`election-redis-${empty ? 'empty' : 'restart'}`);
      const { a, b, c } = w.members;
      await w.writeAndSettle('before the failover');
      const notices: string[] = [];
      // As `pullback up` does (workers/all start-all.ts): the registry restored whenever Redis
      // lost it, at the epoch and with the active the instances record.
      const guard = guardRegistry(w.pipeline, w.config, {
        intervalMs: 1000,
        lowestEpochs: () => recordedOutsideRedis(w.config),
        onRestored: (restore) => notices.push(describeRestore(restore)),
        onError: (error) => stamp(`registry guard: ${error.message}`),
      });
      scene.afterTest(() => guard.stop());
      const positions = reportPositions(w);
      scene.afterTest(() => positions.stop());
      await waitLong('both fallbacks reported healthy, shop-a holding its lease', async () => {
        const registry = w.pipeline.registry;
        const states = await Promise.all(['shop-b', 'shop-c'].map((name) => registry.instance(name)));
        const lease = await registry.activeLease('shop');
        return states.every((s) => s?.state?.healthy) && lease?.instance === 'shop-a' ? true : undefined;
      });
      const verdicts: Verdict[] = [];
      const failovers: FailoverOutcome[] = [];
      const election = await startElection(w.config, {
        pipeline: w.pipeline,
        holder: 'election-1',
        onObservation: (_component, _observation, verdict) => verdicts.push(verdict),
        onFailover: (_component, outcome) => failovers.push(outcome),
        log: (line) => stamp(`election: ${line}`),
      });
      scene.afterTest(() => election.close());
      await waitLong('the election leads and sees shop-a healthy', async () =>
        election.leads() && verdicts.at(-1)?.state === 'healthy' ? true : undefined,
      );

      const writable = watchWritable([a.port, b.port, c.port]);
      // The active's host dies: its agent and its postmaster at once.
      await Promise.all([w.stopAgent('shop-a'), w.active.crash()]);
      if (when === DELAY) {
        await waitLong('both signals held, inside the delay', async () => {
          const last = verdicts.at(-1);
          return last?.state === 'suspect' && last.bothSince !== undefined ? true : undefined;
        });
      } else if (when === AFTER) {
        await waitLong('the failover done', async () => (failovers.some((f) => f.ok) ? true : undefined));
      } else {
        await waitLong('the activation took epoch 2', async () =>
          ((await w.pipeline.registry.component('shop'))?.epoch ?? 0) >= 2 ? true : undefined,
        );
      }
      stamp(`redis ${empty ? 'restarted empty' : 'restarted'}`);
      if (empty) await scene.redis.restartEmpty();
      else {
        await scene.redis.halt({ keepData: true });
        await scene.redis.resume();
      }
      const back = Date.now();

      // Afterwards: a fallback took over (the dead shop-a cannot), within the bound, and the election watches it healthy.
      const writableActive = async () => {
        const name = (await w.pipeline.registry.component('shop'))?.active;
        if (name !== 'shop-b' && name !== 'shop-c') return undefined;
        return (await isWritable(name === 'shop-b' ? b.port : c.port)) ? name : undefined;
      };
      await waitLong('a new active, writable', writableActive);
      const convergedMs = Date.now() - back;
      const active = await waitLong('the new active watched healthy, its activation done', async () => {
        const name = await writableActive();
        if (failovers.filter((f) => f.ok).at(-1)?.to !== name) return undefined;
        return verdicts.slice(-3).length === 3 && verdicts.slice(-3).every((v) => v.state === 'healthy')
          ? name
          : undefined;
      });
      const { rounds, overlaps } = await writable.stop();
      const component = await w.pipeline.registry.component('shop');
      const recorded = await Promise.all([a, b, c].map((m) => recordedEpoch(w, m.name)));
      console.log(
        `redis ${empty ? 'restarted empty' : 'restarted'} ${when}: ${active} active at epoch ${component?.epoch} ${convergedMs} ms after Redis was back, records ${recorded.join('/')}, failovers ${JSON.stringify(failovers.map((f) => f.line))}, notices ${JSON.stringify(notices)} (${rounds} checks)`,
      );
      expect(overlaps).toBe(0);
      expect(convergedMs).toBeLessThan(CONVERGED_WITHIN_MS);
      // Exactly one active: the registry's, the others refuse writes.
      const others = [b, c].filter((m) => m.name !== active);
      for (const m of others) expect(await isWritable(m.port)).toBe(false);
      expect(await isWritable(a.port)).toBe(false);
      // The epoch floor: never behind an epoch recorded on any instance.
      expect(component?.epoch).toBeGreaterThanOrEqual(Math.max(...recorded));
      expect(await recordedEpoch(w, active)).toBe(component?.epoch);
      expect(failovers.filter((f) => f.ok).at(-1)).toMatchObject({ to: active, epoch: component?.epoch });
      expect(
        await query(
          { host: '127.0.0.1', port: active === 'shop-b' ? b.port : c.port },
          'select status from marker',
        ),
      ).toBe('before the failover');
      // The pipeline's registry is there: the component, the marker, the export scheduler.
      expect(await w.pipeline.registry.isRegistered()).toBe(true);
      expect((await w.pipeline.exportQueue.getJobSchedulers(0, -1)).map((s) => s.key)).toEqual([
        'export.shop',
      ]);
      if (empty)
        expect(notices).toEqual([expect.stringMatching(/^registry was reset: restored 1 component/)]);
      else expect(notices).toEqual([]);
      if (when === AFTER) {
        // The restored registry names the new active, as the instances record: no second failover.
        expect(notices[0]).toMatch(new RegExp(`active as the instances record: ${active} of shop$`));
        expect(failovers.filter((f) => f.ok)).toHaveLength(1);
      }
    },
  );
});
