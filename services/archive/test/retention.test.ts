import { describe, expect, it } from 'vitest';
import {
  applyRetention,
  type KeepReason,
  type RetentionPolicy,
  RetentionPolicyError,
} from '../src/retention/index.js';

interface Snap {
  readonly id: string;
  readonly time: Date;
  readonly component: string;
}

/** A snapshot named after its time, so a failing assertion says which one. */
function snap(iso: string, id = iso): Snap {
  return { id, time: new Date(iso), component: 'shop' };
}

function snaps(...isos: string[]): Snap[] {
  return isos.map((iso) => snap(iso));
}

/** The kept ids, newest first. */
function kept(snapshots: readonly Snap[], policy: RetentionPolicy): string[] {
  return applyRetention(snapshots, policy).keep.map((entry) => entry.snapshot.id);
}

/** The kept ids with their reasons, newest first. */
function reasons(snapshots: readonly Snap[], policy: RetentionPolicy): [string, readonly KeepReason[]][] {
  return applyRetention(snapshots, policy).keep.map((entry) => [entry.snapshot.id, entry.reasons]);
}

/** One snapshot every hour on the hour, `from` included, `to` excluded. */
function hourly(from: string, to: string): Snap[] {
  const result: Snap[] = [];
  for (let time = Date.parse(from); time < Date.parse(to); time += 3_600_000) {
    result.push(snap(new Date(time).toISOString()));
  }
  return result;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed;
  for (let i = result.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = state % (i + 1);
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

describe('applyRetention: an empty policy', () => {
  const all = snaps('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z');

  it.each<[string, RetentionPolicy]>([
    ['no rule', {}],
    [
      'only zeros',
      { keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 },
    ],
    ['a zero span', { keepWithin: '0d' }],
  ])('keeps everything and says so (%s)', (_, policy) => {
    const plan = applyRetention(all, policy);
    expect(plan.policyEmpty).toBe(true);
    expect(plan.forget).toEqual([]);
    expect(plan.keep.map((entry) => entry.snapshot.id)).toEqual([
      '2024-01-03T00:00:00Z',
      '2024-01-02T00:00:00Z',
      '2024-01-01T00:00:00Z',
    ]);
    expect(plan.keep.every((entry) => entry.reasons.length === 0)).toBe(true);
  });

  it('is not empty with any rule', () => {
    expect(applyRetention(all, { keepLast: 1 }).policyEmpty).toBe(false);
    expect(applyRetention(all, { keepWithin: '1h' }).policyEmpty).toBe(false);
  });
});

describe('applyRetention: input', () => {
  it('handles no snapshots', () => {
    expect(applyRetention([], { keepDaily: 7 })).toEqual({ keep: [], forget: [], policyEmpty: false });
    expect(applyRetention([], { keepWithin: '7d' })).toEqual({ keep: [], forget: [], policyEmpty: false });
  });

  it('returns the caller’s own objects, newest first, whatever the input order', () => {
    const all = hourly('2024-05-01T00:00:00Z', '2024-05-03T00:00:00Z');
    const plan = applyRetention(shuffled(all, 7), { keepLast: 3 });
    expect(plan.keep.map((entry) => entry.snapshot)).toEqual([all[47], all[46], all[45]]);
    expect(plan.keep[0]?.snapshot).toBe(all[47]);
    expect(plan.forget).toHaveLength(45);
    expect(plan.forget[0]).toBe(all[44]);
    expect(plan.forget.at(-1)).toBe(all[0]);
  });

  it('takes ISO 8601 strings for times, as snapshot manifests store them', () => {
    const manifests = [
      { id: 'old', time: '2024-01-01T10:00:00.000Z', component: 'shop' },
      { id: 'new', time: '2024-01-01T11:00:00.000Z', component: 'shop' },
      { id: 'newer', time: '2024-01-01T11:30:00.000Z', component: 'shop' },
    ];
    const plan = applyRetention(manifests, { keepHourly: 5 });
    expect(plan.keep.map((entry) => entry.snapshot)).toEqual([manifests[2], manifests[0]]);
    expect(plan.forget).toEqual([manifests[1]]);
    expect(() => applyRetention([{ id: 'x', time: 'yesterday' }], { keepLast: 1 })).toThrow(
      'snapshot x has no valid time',
    );
  });

  it('refuses a snapshot without a valid time', () => {
    expect(() => applyRetention([{ id: 'x', time: new Date('nope') }], { keepLast: 1 })).toThrow(
      'snapshot x has no valid time',
    );
  });

  it.each<[RetentionPolicy, string]>([
    [{ keepDaily: -1 }, 'keep-daily: -1 is not a count; use a whole number, 0 or more'],
    [{ keepHourly: 1.5 }, 'keep-hourly: 1.5 is not a count; use a whole number, 0 or more'],
    [{ keepLast: Number.NaN }, 'keep-last: NaN is not a count; use a whole number, 0 or more'],
    [
      { keepYearly: Number.POSITIVE_INFINITY },
      'keep-yearly: Infinity is not a count; use a whole number, 0 or more',
    ],
    [
      { keepWeekly: '3' as unknown as number },
      'keep-weekly: "3" is not a count; use a whole number, 0 or more',
    ],
    [
      { keepMonthly: 2, keepWithin: '7x' },
      'keep-within: "7x" is not a duration; use e.g. 12h, 7d, 4w, 6m, 1y',
    ],
  ])('refuses the bad policy %j', (policy, message) => {
    expect(() => applyRetention(snaps('2024-01-01T00:00:00Z'), policy)).toThrow(message);
    expect(() => applyRetention([], policy)).toThrow(RetentionPolicyError);
  });
});

describe('applyRetention: keepLast', () => {
  it('keeps the newest N', () => {
    const all = snaps('2024-01-01T00:00:00Z', '2024-01-01T00:00:01Z', '2024-01-01T00:00:02Z');
    expect(kept(all, { keepLast: 2 })).toEqual(['2024-01-01T00:00:02Z', '2024-01-01T00:00:01Z']);
    expect(kept(all, { keepLast: 10 })).toHaveLength(3);
  });

  it('breaks ties in time by id, so the input order does not matter', () => {
    const time = '2024-01-01T12:00:00Z';
    const all = [snap(time, 'b'), snap(time, 'c'), snap(time, 'a'), snap('2024-01-01T11:00:00Z', 'z')];
    for (const order of [all, [...all].reverse(), shuffled(all, 3)]) {
      expect(kept(order, { keepLast: 2 })).toEqual(['c', 'b']);
      expect(applyRetention(order, { keepLast: 2 }).forget.map((s) => s.id)).toEqual(['a', 'z']);
    }
  });
});

describe('applyRetention: keepHourly', () => {
  it('keeps the newest snapshot of each of the N most recent hours that have one', () => {
    const all = snaps(
      '2024-01-01T09:59:59.999Z',
      '2024-01-01T10:00:00Z',
      '2024-01-01T10:05:00Z',
      '2024-01-01T10:50:00Z',
      '2024-01-01T11:00:00Z',
      '2024-01-01T11:59:59.999Z',
      '2024-01-01T12:00:00Z',
    );
    expect(kept(all, { keepHourly: 2 })).toEqual(['2024-01-01T12:00:00Z', '2024-01-01T11:59:59.999Z']);
    expect(kept(all, { keepHourly: 4 })).toEqual([
      '2024-01-01T12:00:00Z',
      '2024-01-01T11:59:59.999Z',
      '2024-01-01T10:50:00Z',
      '2024-01-01T09:59:59.999Z',
    ]);
  });

  it('skips hours without snapshots instead of counting them', () => {
    const all = snaps('2024-01-01T02:30:00Z', '2024-01-01T08:30:00Z', '2024-01-01T12:10:00Z');
    expect(kept(all, { keepHourly: 2 })).toEqual(['2024-01-01T12:10:00Z', '2024-01-01T08:30:00Z']);
  });
});

describe('applyRetention: keepDaily', () => {
  it('cuts days at UTC midnight', () => {
    const all = snaps(
      '2024-01-01T00:00:00Z',
      '2024-01-01T23:59:59.999Z',
      '2024-01-02T00:00:00Z',
      '2024-01-02T00:00:00.001Z',
    );
    expect(kept(all, { keepDaily: 2 })).toEqual(['2024-01-02T00:00:00.001Z', '2024-01-01T23:59:59.999Z']);
  });

  it('reads times in UTC whatever offset they were written with', () => {
    // 23:30 in New York on 1 January is 04:30 UTC on 2 January: the same UTC day as the other.
    const all = [snap('2024-01-01T23:30:00-05:00', 'new-york'), snap('2024-01-02T10:00:00Z', 'utc')];
    expect(kept(all, { keepDaily: 2 })).toEqual(['utc']);
  });

  it('skips days without snapshots', () => {
    const all = snaps(
      '2024-01-01T06:00:00Z',
      '2024-01-05T06:00:00Z',
      '2024-01-05T07:00:00Z',
      '2024-01-09T06:00:00Z',
    );
    expect(kept(all, { keepDaily: 3 })).toEqual([
      '2024-01-09T06:00:00Z',
      '2024-01-05T07:00:00Z',
      '2024-01-01T06:00:00Z',
    ]);
  });
});

describe('applyRetention: keepWeekly', () => {
  it('cuts ISO weeks between Sunday and Monday (UTC)', () => {
    const all = snaps(
      '2024-01-01T00:00:00Z', // Monday, 2024-W01
      '2024-01-07T23:59:59.999Z', // Sunday, 2024-W01
      '2024-01-08T00:00:00Z', // Monday, 2024-W02
      '2024-01-10T12:00:00Z', // Wednesday, 2024-W02
    );
    expect(kept(all, { keepWeekly: 2 })).toEqual(['2024-01-10T12:00:00Z', '2024-01-07T23:59:59.999Z']);
  });

  it('keeps a week that spans New Year as one week', () => {
    const all = snaps(
      '2020-12-28T10:00:00Z', // Monday of 2020-W53
      '2020-12-31T10:00:00Z',
      '2021-01-03T10:00:00Z', // Sunday of 2020-W53
      '2021-01-04T10:00:00Z', // 2021-W01
    );
    expect(kept(all, { keepWeekly: 2 })).toEqual(['2021-01-04T10:00:00Z', '2021-01-03T10:00:00Z']);
  });
});

describe('applyRetention: keepMonthly and keepYearly', () => {
  it('cuts months at UTC midnight of the 1st, leap days included', () => {
    const all = snaps(
      '2023-12-31T23:59:59.999Z',
      '2024-01-31T23:59:59.999Z',
      '2024-02-01T00:00:00Z',
      '2024-02-29T12:00:00Z',
      '2024-03-01T00:00:00Z',
    );
    expect(kept(all, { keepMonthly: 3 })).toEqual([
      '2024-03-01T00:00:00Z',
      '2024-02-29T12:00:00Z',
      '2024-01-31T23:59:59.999Z',
    ]);
  });

  it('cuts years at UTC midnight of 1 January', () => {
    const all = snaps(
      '2021-06-01T00:00:00Z',
      '2022-12-31T23:59:59.999Z',
      '2023-01-01T00:00:00Z',
      '2023-07-01T00:00:00Z',
    );
    expect(kept(all, { keepYearly: 2 })).toEqual(['2023-07-01T00:00:00Z', '2022-12-31T23:59:59.999Z']);
    expect(kept(all, { keepYearly: 5 })).toEqual([
      '2023-07-01T00:00:00Z',
      '2022-12-31T23:59:59.999Z',
      '2021-06-01T00:00:00Z',
    ]);
  });
});

describe('applyRetention: keepWithin', () => {
  const all = snaps(
    '2024-03-01T12:00:00Z',
    '2024-03-09T12:00:00Z',
    '2024-03-09T12:00:00.001Z',
    '2024-03-10T00:00:00Z',
    '2024-03-10T12:00:00Z',
  );

  it('keeps what is strictly newer than the newest snapshot less the span', () => {
    expect(reasons(all, { keepWithin: '1d' })).toEqual([
      ['2024-03-10T12:00:00Z', ['within']],
      ['2024-03-10T00:00:00Z', ['within']],
      ['2024-03-09T12:00:00.001Z', ['within']],
    ]);
    expect(kept(all, { keepWithin: '12h' })).toEqual(['2024-03-10T12:00:00Z']);
    expect(kept(all, { keepWithin: '2w' })).toHaveLength(5);
  });

  it('measures from the newest snapshot, not from now', () => {
    // Years after the last backup, keepWithin still keeps the last span of them.
    expect(kept(all, { keepWithin: '1w' })).toHaveLength(4);
  });

  it('counts months in the calendar', () => {
    const end = snaps('2024-02-29T06:00:00Z', '2024-02-29T06:00:00.001Z', '2024-03-31T06:00:00Z');
    expect(kept(end, { keepWithin: '1m' })).toEqual(['2024-03-31T06:00:00Z', '2024-02-29T06:00:00.001Z']);
  });
});

describe('applyRetention: combined policies', () => {
  it('keeps the union of the rules, with every reason', () => {
    // Hourly backups for all of January and February 2024; 29 February is a Thursday.
    const all = hourly('2024-01-01T00:00:00Z', '2024-03-01T00:00:00Z');
    expect(all).toHaveLength(60 * 24);
    const plan = applyRetention(shuffled(all, 11), {
      keepHourly: 24,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
    });
    const byId = new Map(plan.keep.map((entry) => [entry.snapshot.id, entry.reasons]));

    // 24 hours of 29 February, the end of each of 23-28 February, of the Sundays that
    // end ISO weeks 7 and 6, and of January.
    expect(plan.keep).toHaveLength(24 + 6 + 2 + 1);
    expect(plan.forget).toHaveLength(all.length - 33);
    expect(byId.get('2024-02-29T23:00:00.000Z')).toEqual(['hourly', 'daily', 'weekly', 'monthly']);
    expect(byId.get('2024-02-29T00:00:00.000Z')).toEqual(['hourly']);
    expect(byId.get('2024-02-28T23:00:00.000Z')).toEqual(['daily']);
    expect(byId.get('2024-02-25T23:00:00.000Z')).toEqual(['daily', 'weekly']);
    expect(byId.get('2024-02-23T23:00:00.000Z')).toEqual(['daily']);
    expect(byId.get('2024-02-22T23:00:00.000Z')).toBeUndefined();
    expect(byId.get('2024-02-18T23:00:00.000Z')).toEqual(['weekly']);
    expect(byId.get('2024-02-11T23:00:00.000Z')).toEqual(['weekly']);
    expect(byId.get('2024-02-04T23:00:00.000Z')).toBeUndefined();
    expect(byId.get('2024-01-31T23:00:00.000Z')).toEqual(['monthly']);
  });

  it('reports reasons in a fixed order', () => {
    const all = snaps('2024-01-01T00:00:00Z', '2024-06-01T00:00:00Z');
    expect(
      reasons(all, {
        keepWithin: '1d',
        keepYearly: 1,
        keepMonthly: 1,
        keepWeekly: 1,
        keepDaily: 1,
        keepHourly: 1,
        keepLast: 1,
      }),
    ).toEqual([
      ['2024-06-01T00:00:00Z', ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within']],
    ]);
  });

  it('combines keepLast with keepWithin', () => {
    const all = snaps(
      '2024-01-01T00:00:00Z',
      '2024-01-05T00:00:00Z',
      '2024-01-09T00:00:00Z',
      '2024-01-10T00:00:00Z',
    );
    expect(reasons(all, { keepLast: 3, keepWithin: '2d' })).toEqual([
      ['2024-01-10T00:00:00Z', ['last', 'within']],
      ['2024-01-09T00:00:00Z', ['last', 'within']],
      ['2024-01-05T00:00:00Z', ['last']],
    ]);
  });

  it('always keeps the newest snapshot and never forgets everything', () => {
    const all = hourly('2023-12-25T00:00:00Z', '2024-01-08T00:00:00Z');
    const newest = all.at(-1)!;
    const policies: RetentionPolicy[] = [
      { keepLast: 1 },
      { keepHourly: 1 },
      { keepDaily: 1 },
      { keepWeekly: 1 },
      { keepMonthly: 1 },
      { keepYearly: 1 },
      { keepWithin: '1h' },
      { keepDaily: 0, keepWithin: '1h' },
    ];
    for (const policy of policies) {
      const plan = applyRetention(shuffled(all, 5), policy);
      expect(plan.keep[0]?.snapshot, JSON.stringify(policy)).toBe(newest);
      expect(plan.keep.length + plan.forget.length).toBe(all.length);
    }
  });
});
