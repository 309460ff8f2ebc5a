import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ActivationEffects, type ActivationRequest, activate, PROMISE_WAIT_MS } from '../src/index.js';

/*
 * The order and the refusals of an activation, with in-memory effects that log each
 * call (the Redis side of each effect is tested against redis-server in
 * services/pipeline/test/registry-leases.test.ts).
 */

const REQUEST: ActivationRequest = {
  component: 'shop',
  candidate: { name: 'shop-b', priority: 50, healthy: true, lsn: '0/3000000' },
  candidateName: 'shop-b',
  active: 'shop-a',
  activeFailed: true,
  others: ['shop-a', 'shop-c'],
  floor: 7,
  archiveLsn: '0/3000000',
  maxLagBytes: 1024,
  reason: 'failover: shop-a failed',
  by: 'host:1',
};

/** Effects that succeed and log each call; `overrides` replace some. */
function logged(overrides: Partial<ActivationEffects> = {}) {
  const calls: string[] = [];
  const history: unknown[] = [];
  const log = <T>(call: string, value: T): T => {
    calls.push(call);
    return value;
  };
  const effects: ActivationEffects = {
    takeEpoch: async (floor) => log(`takeEpoch ${floor}`, floor + 1),
    waitLeaseLapsed: async () => log('waitLeaseLapsed', { lapsed: true }),
    runFence: async (old) => log(`fence ${old}`, { ok: true }),
    recordEpoch: async (instance, epoch, active) =>
      log(`recordEpoch ${instance} ${epoch} ${active}`, { outcome: 'accepted' }),
    catchUp: async (candidate) => log(`catchUp ${candidate}`, { ok: true, lostBytes: 0 }),
    acquireActiveLease: async (candidate, epoch) => log(`lease ${candidate}@${epoch}`, { ok: true }),
    promote: async (candidate, epoch) => log(`promote ${candidate} ${epoch}`, { ok: true }),
    setActive: async (candidate, epoch) => log(`setActive ${candidate} ${epoch}`, { ok: true }),
    moveFollowers: async (candidate, epoch) => {
      calls.push(`move ${candidate} ${epoch}`);
    },
    recordActivation: async (record) => {
      calls.push('recordActivation');
      history.push(record);
    },
    now: () => '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
  return { calls, history, effects };
}

describe('activate', () => {
  it('runs the steps of docs/election.md in order and records the activation', async () => {
    const { calls, history, effects } = logged();
    const result = await activate(REQUEST, effects);
    expect(result).toEqual({
      ok: true,
      epoch: 8,
      lostBytes: 0,
      warnings: [],
      steps: [
        'check',
        'epoch 8',
        'lease lapsed',
        'fenced',
        'recorded on shop-b',
        'recorded on shop-a',
        'recorded on shop-c',
        'caught up',
        'lease taken',
        'promoted',
        'registry active',
        'followers moved',
        'history',
      ],
    });
    expect(calls).toEqual([
      'takeEpoch 7',
      'waitLeaseLapsed',
      'fence shop-a',
      'recordEpoch shop-b 8 shop-b',
      'recordEpoch shop-a 8 shop-b',
      'recordEpoch shop-c 8 shop-b',
      'catchUp shop-b',
      'lease shop-b@8',
      'promote shop-b 8',
      'setActive shop-b 8',
      'move shop-b 8',
      'recordActivation',
    ]);
    expect(history).toEqual([
      {
        epoch: 8,
        from: 'shop-a',
        to: 'shop-b',
        at: '2025-01-01T00:00:00.000Z',
        reason: 'failover: shop-a failed',
        by: 'host:1',
        lostBytes: 0,
      },
    ]);
  });

  it('runs no fence when none is configured, and activates with no former active', async () => {
    const { calls, history, effects } = logged({ runFence: undefined });
    const { active: _, ...noActive } = REQUEST;
    const result = await activate({ ...noActive, activeFailed: false }, effects);
    expect(result.ok).toBe(true);
    expect(calls.some((c) => c.startsWith('fence'))).toBe(false);
    expect(history[0]).not.toHaveProperty('from');
  });

  describe('refuses at the check, running no effect', () => {
    const cases: [string, Partial<ActivationRequest>, string][] = [
      ['not a fallback', { candidate: undefined }, 'shop-b is not a fallback of shop'],
      [
        'active healthy',
        { activeFailed: false },
        'the active shop-a is healthy (--force to activate anyway)',
      ],
      [
        'behind the archive',
        { archiveLsn: '0/3000800' },
        'shop-b is behind the archive by 2048 bytes (more than maxLagBytes 1024)',
      ],
      [
        'unhealthy, even forced',
        { candidate: { ...REQUEST.candidate!, healthy: false, reason: 'server down' }, force: true },
        'shop-b is not healthy: server down',
      ],
      [
        'priority 0, even forced',
        { candidate: { ...REQUEST.candidate!, priority: 0 }, force: true },
        'shop-b has priority 0 (never chosen)',
      ],
    ];
    for (const [what, change, reason] of cases) {
      it(what, async () => {
        const { calls, effects } = logged();
        expect(await activate({ ...REQUEST, ...change }, effects)).toEqual({
          ok: false,
          reason: `cannot activate shop-b of shop: ${reason}`,
          steps: [],
        });
        expect(calls).toEqual([]);
      });
    }
  });

  it('--force goes past a healthy active and a candidate behind the archive', async () => {
    const { effects } = logged();
    const result = await activate(
      { ...REQUEST, activeFailed: false, archiveLsn: '9/0', force: true },
      effects,
    );
    expect(result).toMatchObject({ ok: true, epoch: 8 });
  });

  it('a switchover passes the healthy active, shuts it down after the epoch and before the lease, and never fences', async () => {
    const { calls, effects } = logged({
      runFence: undefined,
      shutDownOldActive: async (epoch, candidate) => {
        calls.push(`shutDown ${epoch} ${candidate}`);
        return { ok: true };
      },
    });
    const result = await activate({ ...REQUEST, activeFailed: false, switchover: true }, effects);
    expect(result).toMatchObject({ ok: true, epoch: 8 });
    expect(result.steps.slice(0, 4)).toEqual(['check', 'epoch 8', 'old active shut down', 'lease lapsed']);
    expect(calls.slice(0, 3)).toEqual(['takeEpoch 7', 'shutDown 8 shop-b', 'waitLeaseLapsed']);
    // Still refused: a stale candidate, and one of priority 0.
    const stale = await activate(
      { ...REQUEST, activeFailed: false, switchover: true, archiveLsn: '9/0' },
      logged().effects,
    );
    expect(stale).toMatchObject({ ok: false, reason: expect.stringMatching(/shop-b is behind the archive/) });
    const zero = await activate(
      {
        ...REQUEST,
        activeFailed: false,
        switchover: true,
        candidate: { name: 'shop-b', priority: 0, healthy: true, lsn: '0/3000000' },
      },
      logged().effects,
    );
    expect(zero).toMatchObject({
      ok: false,
      reason: 'cannot activate shop-b of shop: shop-b has priority 0 (never chosen)',
    });
  });

  it('refuses a switchover whose old active was not shut down cleanly, before waiting for its lease', async () => {
    const { result, calls } = await refusedAt({
      shutDownOldActive: async () => ({ ok: false, reason: 'its cluster state is in production' }),
    });
    expect(result).toMatchObject({
      reason:
        'cannot activate shop-b of shop: the active shop-a was not shut down cleanly: its cluster state is in production',
      epoch: 8,
    });
    expect(calls).toEqual(['takeEpoch 7']);
  });

  /** Runs an activation whose effect `step` answers `answer`; returns the refusal and the calls made. */
  async function refusedAt(overrides: Partial<ActivationEffects>) {
    const { calls, history, effects } = logged(overrides);
    const result = await activate(REQUEST, effects);
    expect(result.ok).toBe(false);
    expect(history).toEqual([]);
    return { result: result as Extract<typeof result, { ok: false }>, calls };
  }

  it('refuses while the old active lease is held, before recording anything', async () => {
    const { result, calls } = await refusedAt({
      waitLeaseLapsed: async () => ({ lapsed: false, holder: 'shop-a@7' }),
    });
    expect(result).toMatchObject({
      reason: 'cannot activate shop-b of shop: the active lease is still held by shop-a@7',
      epoch: 8,
    });
    expect(calls).toEqual(['takeEpoch 7']);
  });

  it('refuses when the fence command fails', async () => {
    const { result, calls } = await refusedAt({
      runFence: async () => ({ ok: false, reason: 'exit code 1' }),
    });
    expect(result.reason).toBe('cannot activate shop-b of shop: the fence command failed: exit code 1');
    expect(calls.at(-1)).toBe('waitLeaseLapsed');
  });

  it('refuses when the candidate agent refuses the epoch or does not answer', async () => {
    const newer = await refusedAt({ recordEpoch: async () => ({ outcome: 'refused', epoch: 9 }) });
    expect(newer.result.reason).toBe(
      'cannot activate shop-b of shop: shop-b has epoch 9 recorded: someone else activated',
    );
    const silent = await refusedAt({
      recordEpoch: async () => ({ outcome: 'unreachable', reason: 'connection refused' }),
    });
    expect(silent.result.reason).toBe(
      'cannot activate shop-b of shop: its agent did not take epoch 8: connection refused',
    );
    expect(silent.result.steps.at(-1)).toBe('fenced');
  });

  it('waits out a failsafe promise to the old active that lapses by itself, and gives up on one renewed past PROMISE_WAIT_MS', async () => {
    // The candidate's agent refuses twice for a promise with 30 ms left, then takes the epoch.
    let refusals = 2;
    const lapsing = logged({
      recordEpoch: async (instance, epoch, active) => {
        lapsing.calls.push(`recordEpoch ${instance} ${epoch} ${active}`);
        if (instance === 'shop-b' && refusals-- > 0)
          return {
            outcome: 'refused',
            epoch: 7,
            reason: 'a failsafe promise to shop-a at epoch 7 is live',
            retryAfterMs: 30,
          };
        return { outcome: 'accepted' };
      },
    });
    const done = await activate(REQUEST, lapsing.effects);
    expect(done).toMatchObject({ ok: true, epoch: 8 });
    expect(lapsing.calls.filter((c) => c === 'recordEpoch shop-b 8 shop-b')).toHaveLength(3);

    // Renewed all along (the old active runs and cannot reach Redis): refused, after about PROMISE_WAIT_MS.
    const started = Date.now();
    const renewed = await refusedAt({
      recordEpoch: async () => ({
        outcome: 'refused',
        epoch: 7,
        reason: 'a failsafe promise is live',
        retryAfterMs: 2900,
      }),
    });
    expect(renewed.result.reason).toBe(
      'cannot activate shop-b of shop: shop-b has epoch 7 recorded: someone else activated (a failsafe promise is live)',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(PROMISE_WAIT_MS - 3000);
    expect(renewed.calls.some((c) => c.startsWith('promote'))).toBe(false);

    // A newer epoch recorded is never tried again, whatever it says.
    let tries = 0;
    await refusedAt({
      recordEpoch: async () => {
        tries += 1;
        return { outcome: 'refused', epoch: 9, retryAfterMs: 10 };
      },
    });
    expect(tries).toBe(1);
  }, 30_000);

  it('goes on when another instance does not answer, and stops when one has a newer epoch', async () => {
    const unreachable = logged({
      recordEpoch: async (instance) =>
        instance === 'shop-a' ? { outcome: 'unreachable', reason: 'host down' } : { outcome: 'accepted' },
    });
    const done = await activate(REQUEST, unreachable.effects);
    expect(done).toMatchObject({ ok: true });
    expect(done.steps).toContain('shop-a unreachable');

    const { result, calls } = await refusedAt({
      recordEpoch: async (instance) =>
        instance === 'shop-c'
          ? { outcome: 'refused', epoch: 9, reason: 'a failsafe promise is live' }
          : { outcome: 'accepted' },
    });
    expect(result.reason).toBe(
      'cannot activate shop-b of shop: shop-c has epoch 9 recorded: someone else activated (a failsafe promise is live)',
    );
    expect(calls.some((c) => c.startsWith('catchUp'))).toBe(false);
  });

  it('refuses when catching up fails, before taking the lease', async () => {
    const { result, calls } = await refusedAt({
      catchUp: async () => ({ ok: false, reason: 'segment missing' }),
    });
    expect(result.reason).toBe(
      'cannot activate shop-b of shop: catching up with the archive failed: segment missing',
    );
    expect(calls.some((c) => c.startsWith('lease'))).toBe(false);
  });

  it('refuses when the lease is not granted, never promoting', async () => {
    const { result, calls } = await refusedAt({
      acquireActiveLease: async () => ({ ok: false, reason: 'held', holder: 'shop-c@9' }),
    });
    expect(result.reason).toBe('cannot activate shop-b of shop: the active lease was not granted: held');
    expect(calls.some((c) => c.startsWith('promote'))).toBe(false);
  });

  it('refuses when promotion fails, leaving the registry alone', async () => {
    const { result, calls } = await refusedAt({
      promote: async () => ({ ok: false, reason: 'the record says epoch 9' }),
    });
    expect(result.reason).toBe('cannot activate shop-b of shop: promotion failed: the record says epoch 9');
    expect(calls.some((c) => c.startsWith('setActive'))).toBe(false);
  });

  it('refuses when the registry moved past its epoch', async () => {
    const { result } = await refusedAt({ setActive: async () => ({ ok: false, epoch: 10 }) });
    expect(result.reason).toBe('cannot activate shop-b of shop: the registry moved on to epoch 10');
  });

  it('turns an effect that throws into one line', async () => {
    const { result } = await refusedAt({
      takeEpoch: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
    });
    expect(result).toEqual({
      ok: false,
      reason: 'cannot activate shop-b of shop: connect ECONNREFUSED 127.0.0.1:6379',
      steps: ['check'],
    });
  });

  it('is done though moving the followers failed, with a warning', async () => {
    const { history, effects } = logged({
      moveFollowers: async () => {
        throw new Error('receiver lock held');
      },
    });
    const result = await activate(REQUEST, effects);
    expect(result).toMatchObject({
      ok: true,
      warnings: ['moving the schedule, receiver and fallbacks to shop-b failed: receiver lock held'],
    });
    expect(history).toHaveLength(1);
  });

  it('property: of two activations racing over shared state, at most one succeeds, and never two promoted at their epoch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(4), { minLength: 64, maxLength: 64 }), async (yields) => {
        let next = 0;
        /** Lets the other activation run a random number of steps. */
        const interleave = async () => {
          for (let i = yields[next++ % yields.length] as number; i > 0; i--) await Promise.resolve();
        };
        // One registry (epoch and lease, no TTL here: a held lease never lapses) and
        // one compare-and-set epoch record per instance, as the agents keep them.
        const world = { epoch: 7, lease: undefined as string | undefined };
        const records = new Map<string, { epoch: number; active: string }>(
          ['shop-a', 'shop-b', 'shop-c'].map((n) => [n, { epoch: 7, active: 'shop-a' }]),
        );
        const promoted: { name: string; epoch: number }[] = [];
        const shared: ActivationEffects = {
          takeEpoch: async (floor) => {
            await interleave();
            world.epoch = Math.max(world.epoch, floor) + 1;
            return world.epoch;
          },
          waitLeaseLapsed: async () => {
            await interleave();
            return world.lease === undefined ? { lapsed: true } : { lapsed: false, holder: world.lease };
          },
          recordEpoch: async (instance, epoch, active) => {
            await interleave();
            const record = records.get(instance)!;
            if (epoch < record.epoch || (epoch === record.epoch && active !== record.active)) {
              return { outcome: 'refused', epoch: record.epoch };
            }
            records.set(instance, { epoch, active });
            return { outcome: 'accepted' };
          },
          catchUp: async () => {
            await interleave();
            return { ok: true };
          },
          acquireActiveLease: async (candidate, epoch) => {
            await interleave();
            if (world.epoch !== epoch) return { ok: false, reason: 'stale-epoch' };
            if (world.lease !== undefined) return { ok: false, reason: 'held' };
            world.lease = `${candidate}@${epoch}`;
            return { ok: true };
          },
          promote: async (candidate, epoch) => {
            await interleave();
            const record = records.get(candidate)!;
            if (record.epoch !== epoch || record.active !== candidate)
              return { ok: false, reason: 'record moved' };
            promoted.push({ name: candidate, epoch });
            return { ok: true };
          },
          setActive: async (_candidate, epoch) => {
            await interleave();
            if (world.epoch > epoch) return { ok: false, epoch: world.epoch };
            world.epoch = epoch;
            return { ok: true };
          },
          recordActivation: async () => {},
          now: () => 'now',
        };
        const request = (name: string, others: string[]): ActivationRequest => ({
          ...REQUEST,
          candidate: { name, priority: 50, healthy: true, lsn: '0/3000000' },
          candidateName: name,
          others,
        });
        const results = await Promise.all([
          activate(request('shop-b', ['shop-a', 'shop-c']), shared),
          activate(request('shop-c', ['shop-a', 'shop-b']), shared),
        ]);
        expect(results.filter((r) => r.ok).length).toBeLessThanOrEqual(1);
        // Only one promotion can hold the lease; any other promoted instance's epoch is
        // behind the registry's, so its renewals fail and it demotes itself.
        const holding = promoted.filter((p) => world.lease === `${p.name}@${p.epoch}`);
        expect(holding.length).toBeLessThanOrEqual(1);
        expect(promoted.filter((p) => p.epoch === world.epoch).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});
