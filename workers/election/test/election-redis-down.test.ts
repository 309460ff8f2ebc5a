import type { Verdict } from '@pullback/election';
import { waitFor } from '@pullback/harness';
import { ELECTION_SETTING_DEFAULTS } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { describe, expect, it } from 'vitest';
import { AgentClient, type FailoverOutcome, startElection } from '../src/index.js';
import { electionScene } from './election-scene.js';
import { AGENT_TOKEN, waitLong, watchWritable } from './election-world.js';

const scene = electionScene();

const { activeLeaseMs, failsafeMs, failoverDelayMs, leaderLeaseMs } = ELECTION_SETTING_DEFAULTS;
/** Redis away for a minute (issue 11, "Done means"): twenty leases and failsafe promises with the defaults. */
const OUTAGE_MS = 60_000;
/**
 * The longest the active may go without an acknowledged write while Redis is away:
 * under a lease, so a demotion (or a stall as long as one) cannot hide between writes.
 */
const LONGEST_GAP_MS = Math.max(activeLeaseMs, failsafeMs, leaderLeaseMs) + failoverDelayMs;

/** Writes to `port` in a loop until stopped; counts the writes refused, and when each was acknowledged. */
function writeInLoop(port: number): {
  stop(): Promise<{ written: number; acknowledgedAt: number[]; refused: string[] }>;
} {
  let stopped = false;
  const acknowledgedAt: number[] = [];
  const refused: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      await query({ host: '127.0.0.1', port }, 'insert into writes values (1)', {
        statementTimeoutMs: 3000,
        signal: AbortSignal.timeout(5000),
      }).then(
        () => acknowledgedAt.push(Date.now()),
        (error: Error) => refused.push(error.message),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return { written: acknowledgedAt.length, acknowledgedAt, refused };
    },
  };
}

/** The times between acknowledged writes from `from` to `to`, both ends counted. */
function gapsOf(acknowledgedAt: readonly number[], from: number, to: number): number[] {
  const during = [from, ...acknowledgedAt.filter((at) => at > from && at < to), to];
  return during.slice(1).map((at, i) => at - (during[i] as number));
}

/** The agent's `/primary` status now: 200 only on the active holding permission. */
async function primaryStatus(agentPort: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${agentPort}/primary`, {
    signal: AbortSignal.timeout(5000),
  });
  await response.body?.cancel();
  return response.status;
}

describe('Redis stopped with every server healthy', () => {
  it(`Redis stopped for ${OUTAGE_MS / 1000} s (a minute, many leases): no failover, the active keeps taking writes throughout on its failsafe promises, then takes its lease again at the same epoch`, {
    timeout: 300_000,
  }, async () => {
    const w = await scene.newWorld('election-redis-down');
    const { a, b, c } = w.members;
    await w.active.psql('create table writes (n int)');
    await w.writeAndSettle('healthy');
    await w.reportHealthy('shop-b');
    await w.reportHealthy('shop-c');
    await waitLong("shop-a's agent holds the active lease", async () =>
      (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined,
    );
    const verdicts: Verdict[] = [];
    const failovers: FailoverOutcome[] = [];
    const election = await startElection(w.config, {
      pipeline: w.pipeline,
      holder: 'election-1',
      onObservation: (_component, _observation, verdict) => verdicts.push(verdict),
      onFailover: (_component, outcome) => failovers.push(outcome),
    });
    scene.afterTest(() => election.close());
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.leads() && verdicts.at(-1)?.state === 'healthy' ? true : undefined,
    );

    const agents = new AgentClient({ agentToken: AGENT_TOKEN });
    const epochRecords = () =>
      Promise.all(
        [a, b, c].map((m) => agents.epoch({ instance: m.name, url: `http://127.0.0.1:${m.agentPort}` })),
      );
    const recordsBefore = await epochRecords();
    const writable = watchWritable([a.port, b.port, c.port]);
    const writes = writeInLoop(a.port);
    const primaryAnswers = new Map<number, number>();
    await scene.redis.halt({ keepData: true });
    const downAt = Date.now();
    // Throughout the outage: shop-a's agent says it holds permission, and nobody acts.
    await waitFor(
      `Redis away for ${OUTAGE_MS} ms`,
      async () => {
        const status = await primaryStatus(a.agentPort).catch(() => 0);
        primaryAnswers.set(status, (primaryAnswers.get(status) ?? 0) + 1);
        return Date.now() - downAt >= OUTAGE_MS ? true : undefined;
      },
      OUTAGE_MS + 60_000,
      200,
    );
    // The leader stopped leading once it could not renew: no election meanwhile.
    expect(election.leads()).toBe(false);
    const seenBefore = verdicts.length;
    const upAt = Date.now();
    await scene.redis.resume();

    await waitLong("shop-a's agent takes its lease again", async () =>
      (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined,
    );
    await waitLong('the election leads again and sees shop-a healthy', async () =>
      election.leads() && verdicts.length > seenBefore && verdicts.at(-1)?.state === 'healthy'
        ? true
        : undefined,
    );
    const { rounds, overlaps } = await writable.stop();
    const outage = await writes.stop();
    console.log(
      `redis down ${OUTAGE_MS} ms: ${outage.written} writes on shop-a (outage and lease taken again), longest gap ${Math.max(...gapsOf(outage.acknowledgedAt, downAt, upAt))} ms, ${outage.refused.length} refused, /primary answers ${JSON.stringify(Object.fromEntries(primaryAnswers))}, ${rounds} writability checks`,
    );

    expect(overlaps).toBe(0);
    expect(outage.refused).toEqual([]);
    expect(outage.written).toBeGreaterThan(OUTAGE_MS / 1000);
    // Writes acknowledged through the whole minute: no gap as long as a lease, at its start, inside or at its end.
    expect(Math.max(...gapsOf(outage.acknowledgedAt, downAt, upAt))).toBeLessThan(LONGEST_GAP_MS);
    // No epoch recorded on any instance meanwhile either (a record made again would have a new time).
    expect(recordsBefore[0]).toMatchObject({ epoch: 1, active: 'shop-a' });
    expect(await epochRecords()).toEqual(recordsBefore);
    expect([...primaryAnswers.keys()]).toEqual([200]);
    expect(verdicts.filter((verdict) => verdict.state === 'failed')).toEqual([]);
    expect(failovers).toEqual([]);
    expect(w.agentLines.filter((line) => line.includes('demoting'))).toEqual([]);
    expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-a', epoch: 1 });
    expect(await w.pipeline.registry.activations('shop')).toEqual([]);
    expect(await w.active.psql('select count(*) from writes')).toBe(String(outage.written));
  });
});
