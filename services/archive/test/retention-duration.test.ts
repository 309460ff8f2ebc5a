import { describe, expect, it } from 'vitest';
import { isoWeek, parseDuration, RetentionPolicyError, subtractDuration } from '../src/retention/index.js';

const at = (iso: string): Date => new Date(iso);

describe('parseDuration', () => {
  it.each([
    ['12h', { years: 0, months: 0, days: 0, hours: 12 }],
    ['7d', { years: 0, months: 0, days: 7, hours: 0 }],
    ['2w', { years: 0, months: 0, days: 14, hours: 0 }],
    ['6m', { years: 0, months: 6, days: 0, hours: 0 }],
    ['1y', { years: 1, months: 0, days: 0, hours: 0 }],
    ['1y6m', { years: 1, months: 6, days: 0, hours: 0 }],
    ['1w3d12h', { years: 0, months: 0, days: 10, hours: 12 }],
    ['0d', { years: 0, months: 0, days: 0, hours: 0 }],
  ])('reads %s', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });

  it.each(['7x', '', '7', 'd', '1h2d', '-1d', '1.5d', ' 7d', '7D', '7 d', '30min'])(
    'refuses %j with one clear line',
    (text) => {
      expect(() => parseDuration(text)).toThrow(
        `keep-within: ${JSON.stringify(text)} is not a duration; use e.g. 12h, 7d, 4w, 6m, 1y`,
      );
      expect(() => parseDuration(text)).toThrow(RetentionPolicyError);
    },
  );

  it('names the option it was given', () => {
    expect(() => parseDuration('x', 'within')).toThrow(/^within: "x" is not a duration/);
  });

  it('refuses spans too long for a date', () => {
    expect(() => parseDuration('99999999999y')).toThrow('keep-within: "99999999999y" is too long a duration');
  });
});

describe('subtractDuration', () => {
  const back = (iso: string, text: string): string =>
    subtractDuration(at(iso), parseDuration(text)).toISOString();

  it('subtracts hours and days as exact UTC hours', () => {
    expect(back('2024-03-10T05:30:00.000Z', '12h')).toBe('2024-03-09T17:30:00.000Z');
    expect(back('2024-03-10T05:30:00.000Z', '7d')).toBe('2024-03-03T05:30:00.000Z');
    expect(back('2024-03-10T05:30:00.000Z', '2w')).toBe('2024-02-25T05:30:00.000Z');
    // Crossing the European and US daylight-saving changes changes nothing in UTC.
    expect(back('2024-04-01T00:00:00.000Z', '14d')).toBe('2024-03-18T00:00:00.000Z');
  });

  it('subtracts months as calendar months, clamped to the end of a shorter month', () => {
    expect(back('2024-01-15T08:00:00.000Z', '1m')).toBe('2023-12-15T08:00:00.000Z');
    expect(back('2024-03-31T08:00:00.000Z', '1m')).toBe('2024-02-29T08:00:00.000Z');
    expect(back('2023-03-31T08:00:00.000Z', '1m')).toBe('2023-02-28T08:00:00.000Z');
    expect(back('2024-05-31T08:00:00.000Z', '3m')).toBe('2024-02-29T08:00:00.000Z');
    expect(back('2024-01-31T08:00:00.000Z', '2m')).toBe('2023-11-30T08:00:00.000Z');
  });

  it('subtracts years, clamping 29 February', () => {
    expect(back('2024-02-29T23:59:59.999Z', '1y')).toBe('2023-02-28T23:59:59.999Z');
    expect(back('2024-07-01T00:00:00.000Z', '1y6m')).toBe('2023-01-01T00:00:00.000Z');
  });

  it('subtracts months before days', () => {
    // 31 March less a month is 29 February, less a day 28 February.
    expect(back('2024-03-31T00:00:00.000Z', '1m1d')).toBe('2024-02-28T00:00:00.000Z');
  });
});

describe('isoWeek', () => {
  it.each([
    ['2021-01-01T12:00:00Z', 2020, 53], // a Friday: the week of 31 December 2020
    ['2021-01-03T23:59:59.999Z', 2020, 53], // Sunday, the week's last moment
    ['2021-01-04T00:00:00Z', 2021, 1], // Monday
    ['2020-12-31T00:00:00Z', 2020, 53],
    ['2024-12-30T00:00:00Z', 2025, 1], // a Monday whose Thursday is in 2025
    ['2018-01-01T00:00:00Z', 2018, 1], // 1 January on a Monday
    ['2024-01-07T23:59:59.999Z', 2024, 1],
    ['2024-01-08T00:00:00Z', 2024, 2],
    ['2024-02-29T12:00:00Z', 2024, 9],
    ['2026-12-31T12:00:00Z', 2026, 53],
  ])('puts %s in %i-W%i', (iso, year, week) => {
    expect(isoWeek(at(iso))).toEqual({ year, week });
  });
});
