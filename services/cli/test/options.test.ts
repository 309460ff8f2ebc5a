import { InvalidArgumentError } from '@commander-js/extra-typings';
import { describe, expect, it } from 'vitest';
import { parseCount, parseKeepWithin, parsePort, parseRoles, parseTime } from '../src/options.js';

describe('option parsers', () => {
  it('counts and ports are plain digits in range', () => {
    expect(parseCount('0')).toBe(0);
    expect(parsePort('5432')).toBe(5432);
    for (const text of ['', '-1', '1e3', '0x10', '1.5', ' 7'])
      expect(() => parseCount(text)).toThrow(InvalidArgumentError);
    for (const text of ['0', '65536', '5432x']) expect(() => parsePort(text)).toThrow(InvalidArgumentError);
  });

  it('--roles takes known roles, comma-separated, once each', () => {
    expect(parseRoles('pull-backup')).toEqual(['pull-backup']);
    expect(parseRoles('export, import,export')).toEqual(['export', 'import']);
    expect(parseRoles('pull-backup,election')).toEqual(['pull-backup', 'election']);
    for (const text of ['', 'pull', 'export,,import', 'elect', 'agent'])
      expect(() => parseRoles(text)).toThrow(InvalidArgumentError);
  });

  it('--at needs a time with a zone', () => {
    expect(parseTime('2025-06-01T12:30:00Z').toISOString()).toBe('2025-06-01T12:30:00.000Z');
    expect(parseTime('2025-06-01 14:30:00+02').toISOString()).toBe('2025-06-01T12:30:00.000Z');
    for (const text of ['2025-06-01', '2025-06-01 12:30', 'yesterday', '2025-13-01T00:00:00Z']) {
      expect(() => parseTime(text)).toThrow(InvalidArgumentError);
    }
  });

  it('--keep-within takes the config syntax', () => {
    expect(parseKeepWithin('1y6m')).toBe('1y6m');
    expect(() => parseKeepWithin('7 days')).toThrow(InvalidArgumentError);
  });
});
