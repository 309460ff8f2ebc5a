import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FailureDetector, type Observation, type Verdict, witnessesFailing } from '../src/index.js';

const DELAY = 2000;

const HEALTHY = { probeOk: true, agentSilent: false, agentReportsDown: false, receiverLostActive: false };
const BOTH = { probeOk: false, agentSilent: true, agentReportsDown: false, receiverLostActive: false };

/** Feeds `observations` in order; returns every verdict. */
function run(observations: readonly Observation[], delay = DELAY): Verdict[] {
  const detector = new FailureDetector({ failoverDelayMs: delay });
  return observations.map((o) => detector.observe(o));
}

/** Observations every `stepMs` from 0, each `shape`. */
function every(stepMs: number, count: number, shape: Omit<Observation, 'at'>, from = 0): Observation[] {
  return Array.from({ length: count }, (_, i) => ({ at: from + i * stepMs, ...shape }));
}

/**
 * The rule of docs/election.md, written the obvious way: failed when the run of
 * observations at the end in which both signals hold began at least `delay` before
 * the last one.
 */
function failedByTheRule(observations: readonly Observation[], delay: number): boolean {
  let start = observations.length;
  while (start > 0) {
    const o = observations[start - 1]!;
    if (o.probeOk || !witnessesFailing(o)) break;
    start--;
  }
  if (start === observations.length) return false;
  return observations.at(-1)!.at - observations[start]!.at >= delay;
}

/** A time-ordered sequence of observations with every mix of signals. */
const observationSequence = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 0, max: 1500 }),
      probeOk: fc.boolean(),
      agentSilent: fc.boolean(),
      agentReportsDown: fc.boolean(),
      receiverLostActive: fc.boolean(),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((steps) => {
    let at = 0;
    return steps.map(({ gap, ...signals }) => {
      at += gap;
      return { at, ...signals };
    });
  });

describe('failure detector', () => {
  it('is healthy while probes succeed and no witness complains', () => {
    expect(run(every(500, 20, HEALTHY)).every((v) => v.state === 'healthy')).toBe(true);
  });

  it('declares failure once both signals held without a break for failoverDelayMs, not before', () => {
    const verdicts = run(every(500, 6, BOTH, 1000));
    expect(verdicts.map((v) => v.state)).toEqual([
      'suspect',
      'suspect',
      'suspect',
      'suspect',
      'failed',
      'failed',
    ]);
    expect(verdicts[0]).toEqual({
      state: 'suspect',
      since: 1000,
      probeFailing: true,
      witnessesFailing: true,
      bothSince: 1000,
    });
    expect(verdicts[4]).toEqual({ state: 'failed', since: 1000 });
  });

  it('counts the delay from when the second signal began, each witness counting as signal B', () => {
    for (const witness of ['agentSilent', 'agentReportsDown', 'receiverLostActive'] as const) {
      const probeOnly = every(500, 4, { ...HEALTHY, probeOk: false }, 0);
      const both = every(500, 6, { ...HEALTHY, probeOk: false, [witness]: true }, 2000);
      const verdicts = run([...probeOnly, ...both]);
      expect(verdicts[3]).toMatchObject({
        state: 'suspect',
        since: 0,
        probeFailing: true,
        witnessesFailing: false,
      });
      expect(verdicts[4]).toMatchObject({ state: 'suspect', since: 0, bothSince: 2000 });
      expect(verdicts.at(-2)).toMatchObject({ state: 'failed', since: 2000 });
    }
  });

  it('resets on any successful probe: no failure within failoverDelayMs of one', () => {
    const observations = [
      ...every(500, 4, BOTH, 0),
      { at: 2000, ...HEALTHY, agentSilent: true }, // the probe got through once
      ...every(500, 5, BOTH, 2500),
    ];
    const verdicts = run(observations);
    expect(verdicts.slice(0, 4).every((v) => v.state === 'suspect')).toBe(true);
    expect(verdicts[4]).toMatchObject({
      state: 'suspect',
      probeFailing: false,
      witnessesFailing: true,
      since: 0,
    });
    expect(verdicts.slice(5, 9).every((v) => v.state === 'suspect')).toBe(true);
    expect(verdicts[9]).toEqual({ state: 'failed', since: 2500 });
  });

  it('resets when the witnesses stop complaining, though the probe still fails', () => {
    const observations = [
      ...every(500, 4, BOTH, 0),
      { at: 2000, ...BOTH, agentSilent: false },
      ...every(500, 4, BOTH, 2500),
    ];
    const verdicts = run(observations);
    expect(verdicts.every((v) => v.state !== 'failed')).toBe(true);
    expect(verdicts.at(-1)).toMatchObject({ state: 'suspect', since: 0, bothSince: 2500 });
  });

  it('never fails on one signal, however long it holds', () => {
    expect(run(every(500, 100, { ...HEALTHY, probeOk: false })).every((v) => v.state === 'suspect')).toBe(
      true,
    );
    const silentButReachable = {
      ...HEALTHY,
      agentSilent: true,
      agentReportsDown: true,
      receiverLostActive: true,
    };
    expect(run(every(500, 100, silentButReachable)).every((v) => v.state === 'suspect')).toBe(true);
  });

  it('is healthy again after a failure once a probe succeeds and the witnesses are quiet, and after reset', () => {
    const detector = new FailureDetector({ failoverDelayMs: DELAY });
    for (const o of every(1000, 3, BOTH)) detector.observe(o);
    expect(detector.verdict().state).toBe('failed');
    expect(detector.observe({ at: 3000, ...HEALTHY })).toEqual({ state: 'healthy' });
    for (const o of every(1000, 3, BOTH, 4000)) detector.observe(o);
    expect(detector.verdict().state).toBe('failed');
    detector.reset();
    expect(detector.verdict()).toEqual({ state: 'healthy' });
    expect(detector.observe({ at: 0, ...BOTH }).state).toBe('suspect');
  });

  it('refuses an observation older than the last', () => {
    const detector = new FailureDetector({ failoverDelayMs: DELAY });
    detector.observe({ at: 100, ...HEALTHY });
    expect(() => detector.observe({ at: 99, ...HEALTHY })).toThrow(
      'observation at 99 is older than the last one, at 100',
    );
  });

  it('property: the verdict after every observation is the rule of docs/election.md', () => {
    fc.assert(
      fc.property(observationSequence, fc.integer({ min: 0, max: 5000 }), (observations, delay) => {
        const verdicts = run(observations, delay);
        verdicts.forEach((verdict, i) => {
          const seen = observations.slice(0, i + 1);
          expect(verdict.state === 'failed').toBe(failedByTheRule(seen, delay));
          const last = seen.at(-1)!;
          if (last.probeOk && !witnessesFailing(last)) expect(verdict).toEqual({ state: 'healthy' });
        });
      }),
      { numRuns: 500 },
    );
  });

  it('property: never failed with a successful probe within the last failoverDelayMs', () => {
    fc.assert(
      fc.property(observationSequence, (observations) => {
        const verdicts = run(observations);
        verdicts.forEach((verdict, i) => {
          const now = observations[i]!.at;
          const recentOk = observations.slice(0, i + 1).some((o) => o.probeOk && now - o.at < DELAY);
          if (recentOk) expect(verdict.state).not.toBe('failed');
        });
      }),
      { numRuns: 500 },
    );
  });

  it('property: a single signal never yields failed', () => {
    const probeOnly = observationSequence.map((os) =>
      os.map((o) => ({ ...o, agentSilent: false, agentReportsDown: false, receiverLostActive: false })),
    );
    const witnessesOnly = observationSequence.map((os) => os.map((o) => ({ ...o, probeOk: true })));
    fc.assert(
      fc.property(fc.oneof(probeOnly, witnessesOnly), (observations) => {
        expect(run(observations).every((v) => v.state !== 'failed')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
