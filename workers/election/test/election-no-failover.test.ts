import type { Observation, Verdict } from '@pullback/election';
import { ELECTION_SETTING_DEFAULTS, type InstanceConfig } from '@pullback/pipeline';
import { probeServer } from '@pullback/recipe-postgres';
import { describe, expect, it } from 'vitest';
import { type FailoverOutcome, startElection } from '../src/index.js';
import { electionScene } from './election-scene.js';
import { isWritable, waitLong } from './election-world.js';

const scene = electionScene();

const { failoverDelayMs } = ELECTION_SETTING_DEFAULTS;

describe('the election worker does not fail a healthy active over on one signal', () => {
  it('probes blocked for this observer only, then the agent silent while the server answers: no failover', async () => {
    const w = await scene.newWorld('election-one-signal');
    await w.writeAndSettle('healthy');
    await w.reportHealthy('shop-b');
    await w.reportHealthy('shop-c');
    // A fault-injecting wrapper: this observer's probes of shop-a fail while blocked (a route it alone lost).
    let blocked = false;
    const probe = (instance: InstanceConfig, timeoutMs: number) =>
      blocked && instance.name === 'shop-a'
        ? Promise.resolve({ ok: false as const, reason: 'blocked for this observer' })
        : probeServer({ host: instance.host, port: instance.port }, timeoutMs);
    const seen: { observation: Observation; verdict: Verdict }[] = [];
    const failovers: FailoverOutcome[] = [];
    const election = await startElection(w.config, {
      pipeline: w.pipeline,
      holder: 'election-1',
      probe,
      onObservation: (_component, observation, verdict) => seen.push({ observation, verdict }),
      onFailover: (_component, outcome) => failovers.push(outcome),
    });
    scene.afterTest(() => election.close());
    await waitLong('the election leads and sees shop-a healthy', async () =>
      election.leads() && seen.at(-1)?.verdict.state === 'healthy' ? true : undefined,
    );

    /** Waits until one signal alone has held for twice the failover delay. */
    const heldAlone = (what: string, signal: 'probeFailing' | 'witnessesFailing') =>
      waitLong(what, async () => {
        const last = seen.at(-1);
        if (last?.verdict.state !== 'suspect' || !last.verdict[signal]) return undefined;
        expect(last.verdict.bothSince).toBeUndefined();
        return last.observation.at - last.verdict.since >= 2 * failoverDelayMs ? true : undefined;
      });

    blocked = true;
    await heldAlone('probes failing alone for twice the delay', 'probeFailing');
    blocked = false;
    await waitLong('healthy again', async () =>
      seen.at(-1)?.verdict.state === 'healthy' ? true : undefined,
    );

    // shop-a's agent goes silent (heartbeat and lease renewals stop); its server still answers.
    await w.stopAgent('shop-a');
    await heldAlone('the agent silent alone for twice the delay', 'witnessesFailing');

    expect(seen.filter(({ verdict }) => verdict.state === 'failed')).toEqual([]);
    expect(failovers).toEqual([]);
    expect(await w.pipeline.registry.component('shop')).toMatchObject({ active: 'shop-a', epoch: 1 });
    expect(await w.pipeline.registry.activations('shop')).toEqual([]);
    expect(await isWritable(w.members.a.port)).toBe(true);
    expect(await isWritable(w.members.b.port)).toBe(false);
  });
});
