import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { formatSpan, LockedError } from '../src/lock/lock-errors.js';
import { decodeLock, encodeLock, type LockRecord } from '../src/lock/lock-record.js';
import { isProcessAlive, staleReason } from '../src/lock/staleness.js';

const RECORD: LockRecord = {
  kind: 'exclusive',
  hostname: 'db-1.example',
  pid: 4242,
  purpose: 'prune',
  createdAt: new Date('2024-05-01T10:00:00.000Z'),
  renewedAt: new Date('2024-05-01T10:05:00.000Z'),
  leaseMs: 60_000,
};

describe('lock objects', () => {
  it('are one line of plain JSON that reads back the same', () => {
    const bytes = encodeLock(RECORD);
    expect(bytes.toString()).toBe(
      '{"version":1,"kind":"exclusive","hostname":"db-1.example","pid":4242,"purpose":"prune",' +
        '"createdAt":"2024-05-01T10:00:00.000Z","renewedAt":"2024-05-01T10:05:00.000Z","leaseMs":60000}\n',
    );
    expect(decodeLock(bytes)).toEqual(RECORD);
  });

  it.each([
    ['garbage', 'not JSON'],
    ['[1]', 'unknown lock format version none'],
    ['null', 'not a JSON object'],
    ['{"version":2}', 'unknown lock format version 2'],
    [JSON.stringify({ ...JSON.parse(encodeLock(RECORD).toString()), kind: 'both' }), 'bad "kind"'],
    [JSON.stringify({ ...JSON.parse(encodeLock(RECORD).toString()), pid: -1 }), 'bad "pid"'],
    [JSON.stringify({ ...JSON.parse(encodeLock(RECORD).toString()), leaseMs: 0 }), 'bad "leaseMs"'],
    [JSON.stringify({ ...JSON.parse(encodeLock(RECORD).toString()), renewedAt: 'soon' }), 'bad "renewedAt"'],
  ])('refuse %s', (text, problem) => {
    expect(decodeLock(Buffer.from(text))).toEqual({ problem });
  });
});

describe('staleReason', () => {
  const renewed = RECORD.renewedAt.getTime();

  it('lets a lease expire only after the clock-skew margin', () => {
    expect(staleReason(RECORD, renewed + 60_000 + 15_000)).toBeUndefined();
    expect(staleReason(RECORD, renewed + 60_000 + 15_001)).toBe('expired');
    expect(staleReason(RECORD, renewed + 60_001, { clockSkewMs: 0 })).toBe('expired');
    expect(staleReason(RECORD, renewed + 60_000, { clockSkewMs: 0 })).toBeUndefined();
  });

  it('asks only this host whether the holder lives', () => {
    const gone = { ...RECORD, pid: 2 ** 30 };
    expect(isProcessAlive(gone.pid)).toBe(false);
    expect(staleReason(gone, renewed)).toBeUndefined();
    expect(staleReason({ ...gone, hostname: hostname() }, renewed)).toBe('dead-process');
    expect(staleReason({ ...RECORD, hostname: hostname(), pid: process.pid }, renewed)).toBeUndefined();
  });
});

describe('LockedError', () => {
  const now = Date.parse('2024-05-01T10:05:30.000Z');

  it('names an exclusive holder, its age and when its lock would expire', () => {
    const error = new LockedError('shared', [{ id: 'a', state: 'live', record: RECORD }], 0, now);
    expect(error.message).toBe(
      'archive is locked exclusively by prune on host db-1.example (pid 4242) since ' +
        '2024-05-01T10:00:00.000Z (5m 30s ago); HINT: wait for it to finish; ' +
        'if that process is gone, its lock expires at 2024-05-01T10:06:15.000Z',
    );
  });

  it('keeps the summary and the hint apart for callers that print hints themselves', () => {
    const error = new LockedError('shared', [{ id: 'a', state: 'live', record: RECORD }], 0, now);
    expect(error.code).toBe('locked');
    expect(error.message).toBe(`${error.summary}; HINT: ${error.hint}`);
    expect(error.summary).not.toContain('HINT');
    expect(error.hint).toMatch(/^wait for it to finish/);
  });

  it('names the exclusive holder among shared ones, counts the rest, and says how long it waited', () => {
    const shared = { ...RECORD, kind: 'shared' as const, purpose: 'backup' };
    const error = new LockedError(
      'exclusive',
      [
        { id: 'a', state: 'live', record: shared },
        { id: 'b', state: 'live', record: RECORD },
        { id: 'c', state: 'live', record: shared },
      ],
      30_000,
      now,
    );
    expect(error.message).toMatch(
      /^archive is locked exclusively by prune on host db-1.example \(pid 4242\) since .* \(and 2 more locks\), still after waiting 30s; HINT: /,
    );
    expect(
      new LockedError('exclusive', [{ id: 'a', state: 'live', record: shared }], 0, now).message,
    ).toMatch(
      /^archive is locked by backup on host db-1.example \(pid 4242\) since 2024-05-01T10:00:00.000Z \(5m 30s ago\); HINT/,
    );
  });

  it('points at an object that is not a lock', () => {
    const error = new LockedError('shared', [{ id: 'junk', state: 'invalid', problem: 'not JSON' }], 0, now);
    expect(error.message).toBe(
      'archive has a lock object locks/junk that is not a lock (not JSON); ' +
        'HINT: if no pullback process is using the archive, delete that object from it',
    );
  });
});

describe('formatSpan', () => {
  it.each([
    [850, '850ms'],
    [42_000, '42s'],
    [60_000, '1m'],
    [303_000, '5m 3s'],
    [7_500_000, '2h 5m'],
    [273_600_000, '3d 4h'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatSpan(ms)).toBe(text);
  });
});
