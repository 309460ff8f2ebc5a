import { createServer, type Server } from 'node:net';
import type { Verdict } from '@pullback/election';
import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { query, stopServer } from '@pullback/recipe-postgres';
import { describe, expect, it } from 'vitest';
import { type FailoverOutcome, startElection } from '../src/index.js';
import { electionScene } from './election-scene.js';
import { isWritable, waitLong } from './election-world.js';

const scene = electionScene();

const { failoverDelayMs } = ELECTION_SETTING_DEFAULTS;

/**
 * Samples every instance's writability in rounds until stopped: `overlaps` counts
 * rounds with more than one writable, `writableAfter` the rounds in which `name` took
 * writes after `since()` was set (the old active after the new one first took writes).
 */
function sampleWritable(ports: Readonly<Record<string, number>>) {
  let stopped = false;
  let rounds = 0;
  let overlaps = 0;
  const firstWritable = new Map<string, number>();
  const lastWritable = new Map<string, number>();
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const names = Object.keys(ports);
      const writable = await Promise.all(names.map((name) => isWritable(ports[name] as number)));
      rounds++;
      if (writable.filter(Boolean).length > 1) overlaps++;
      for (const [i, name] of names.entries()) {
        if (!writable[i]) continue;
        if (!firstWritable.has(name)) firstWritable.set(name, at);
        lastWritable.set(name, at);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    /** When `name` was first seen writable since sampling began. */
    firstWritable: (name: string) => firstWritable.get(name),
    stop: async () => {
      stopped = true;
      await loop;
      return { rounds, overlaps, firstWritable, lastWritable };
    },
  };
}

/** Takes 127.0.0.1:`port` (every connection dropped at once), so a server cannot start there. */
async function takePort(port: number): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

describe("the active's server stopped while its agent lives", () => {
  it('the postmaster SIGKILLed alone: restarted in place by its agent, or failed over with the old one rejoining; never two writable', {
    timeout: 240_000,
  }, async () => {
    await stopActiveServer('election-server-stopped', false);
  });

  it('its restarts failing (its port taken) past the delay: failed over, the old active losing permission, rejoining as a fallback, never writable again', {
    timeout: 240_000,
  }, async () => {
    const outcome = await stopActiveServer('election-server-blocked', true);
    expect(outcome).not.toBe('shop-a');
  });
});

/**
 * Stops shop-a's server while its agent lives (`blockRestart`: the whole server killed
 * and its port taken until a failover is done, so its agent cannot start it again) and
 * checks whichever outcome follows; returns the active after.
 */
async function stopActiveServer(label: string, blockRestart: boolean): Promise<string> {
  {
    const w = await scene.newWorld(label);
    const { a, b, c } = w.members;
    // The agent's supervisor starts shop-a again with pg_ctl: the harness's handle no longer stops it.
    scene.afterTest(async () => {
      await stopServer({ dataDir: a.dataDir }).catch(() => {});
    });
    await w.writeAndSettle('before the stop');
    await w.reportHealthy('shop-b');
    await w.reportHealthy('shop-c');
    await waitLong("shop-a's agent holds the active lease", async () =>
      (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined,
    );
    const verdicts: { at: number; verdict: Verdict }[] = [];
    const failovers: FailoverOutcome[] = [];
    const election = await startElection(w.config, {
      pipeline: w.pipeline,
      holder: 'election-1',
      onObservation: (_component, _observation, verdict) => verdicts.push({ at: Date.now(), verdict }),
      onFailover: (_component, outcome) => failovers.push(outcome),
    });
    scene.afterTest(() => election.close());
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.leads() && verdicts.at(-1)?.verdict.state === 'healthy' ? true : undefined,
    );

    const sampler = sampleWritable({ 'shop-a': a.port, 'shop-b': b.port, 'shop-c': c.port });
    await waitLong('the sampler sees shop-a writable', async () =>
      sampler.firstWritable('shop-a') === undefined ? undefined : true,
    );
    const stoppedAt = Date.now();
    if (blockRestart) {
      await w.active.crash();
      const taken = await takePort(a.port);
      scene.afterTest(() => new Promise((resolve) => taken.close(() => resolve())));
      await waitLong('a failover done', async () => (failovers.some((f) => f.ok) ? true : undefined));
      // Free again: the old active's agent can now rewind it and start it as a fallback.
      await new Promise((resolve) => taken.close(() => resolve(undefined)));
    } else {
      // The server stops, its agent lives: the postmaster alone is killed (its backends follow it).
      process.kill(w.active.currentPid(), 'SIGKILL');
    }

    // Settled: a writable active the election has watched healthy for twice the delay
    // (it observes nothing while it activates, so no failover is under way then).
    const outcome = await waitLong('a writable active, watched healthy for twice the delay', async () => {
      const active = (await w.pipeline.registry.component('shop'))?.active;
      const port = active === 'shop-b' ? b.port : active === 'shop-c' ? c.port : a.port;
      if (active === undefined || !(await isWritable(port))) return undefined;
      const after = verdicts.filter(({ at }) => at >= stoppedAt);
      let streak = after.length;
      while (streak > 0 && after[streak - 1]?.verdict.state === 'healthy') streak--;
      const healthy = after.slice(streak);
      if (healthy.length === 0) return undefined;
      const first = healthy[0]?.at as number;
      const last = healthy.at(-1)?.at as number;
      return last - first >= 2 * failoverDelayMs
        ? { active, settledAfterMs: Date.now() - stoppedAt }
        : undefined;
    });
    if (outcome.active === 'shop-a') {
      // Restarted in place: the supervisor started it again while its permission held.
      expect(failovers).toEqual([]);
      expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-a', epoch: 1 });
      expect(w.agentLines).toContain('shop-a: starting shop-a as the active');
      expect(await w.pipeline.registry.activations('shop')).toEqual([]);
    } else {
      // Failed over: shop-a's agent was told the new epoch and demoted it; it rejoins as a fallback.
      expect(failovers).toEqual([expect.objectContaining({ ok: true, to: outcome.active, epoch: 2 })]);
      expect(w.agentLines.some((line) => line.startsWith('shop-a: shop-a lost permission at epoch 1'))).toBe(
        true,
      );
      await waitLong('shop-a streams from the new active', async () =>
        (await query({ host: '127.0.0.1', port: a.port }, 'select status from pg_stat_wal_receiver').catch(
          () => '',
        )) === 'streaming'
          ? true
          : undefined,
      );
    }
    const { rounds, overlaps, firstWritable, lastWritable } = await sampler.stop();
    const outcomeLine =
      outcome.active === 'shop-a'
        ? 'restarted in place'
        : `failed over to ${outcome.active}, shop-a rejoined`;
    console.log(
      `active's server stopped: ${outcomeLine}, settled ${outcome.settledAfterMs} ms after, election verdicts meanwhile: ${[...new Set(verdicts.filter(({ at }) => at >= stoppedAt).map(({ verdict }) => verdict.state))].join(', ')} (${rounds} checks)`,
    );
    expect(overlaps).toBe(0);
    if (outcome.active !== 'shop-a') {
      // Once the new active took writes, the old one never did again.
      expect(lastWritable.get('shop-a') ?? 0).toBeLessThan(firstWritable.get(outcome.active) as number);
      expect(await isWritable(a.port)).toBe(false);
      expect(await query({ host: '127.0.0.1', port: a.port }, 'select pg_is_in_recovery()')).toBe('t');
    }
    expect(
      await query(
        {
          host: '127.0.0.1',
          port: outcome.active === 'shop-a' ? a.port : outcome.active === 'shop-b' ? b.port : c.port,
        },
        'select status from marker',
      ),
    ).toBe('before the stop');
    return outcome.active;
  }
}
