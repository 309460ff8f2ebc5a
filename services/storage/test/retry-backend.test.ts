import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError } from '../src/errors.js';
import { FsBackend } from '../src/fs-backend.js';
import { RetryBackend, type RetryEvent } from '../src/retry-backend.js';
import { readAll } from './byte-streams.js';
import { FaultyBackend } from './faulty-backend.js';

let root: string;
let stores = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pullback-retry-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function setup(retries = 3): { faulty: FaultyBackend; retrying: RetryBackend; events: RetryEvent[] } {
  const faulty = new FaultyBackend(new FsBackend(join(root, String(++stores))));
  const events: RetryEvent[] = [];
  const retrying = new RetryBackend(faulty, {
    retries,
    minTimeout: 1,
    maxTimeout: 5,
    onRetry: (event) => events.push(event),
  });
  return { faulty, retrying, events };
}

/** A Node error with an errno code, as the fs driver or a socket would throw. */
function errno(code: string): () => Error {
  return () => Object.assign(new Error(`${code} (injected)`), { code });
}

/** An error shaped as the S3 SDK throws it. */
function s3Error(name: string, status: number): () => Error {
  return () =>
    Object.assign(new Error(`${name} (injected)`), { name, $metadata: { httpStatusCode: status } });
}

describe('retry backend error classes', () => {
  it.each([
    ['a full disk', errno('ENOSPC')],
    ['a full quota', errno('EDQUOT')],
    ['a refused permission', errno('EACCES')],
    ['a refused operation', errno('EPERM')],
    ['a read-only filesystem', errno('EROFS')],
    ['a 403', s3Error('AccessDenied', 403)],
    ['a 401', s3Error('Unauthorized', 401)],
    ['a bad request', s3Error('BadRequest', 400)],
    ['a missing bucket', s3Error('NoSuchBucket', 404)],
    ['a wrong signature', s3Error('SignatureDoesNotMatch', 403)],
    ['an unknown access key', s3Error('InvalidAccessKeyId', 403)],
  ])('reports %s at once, without retrying', async (_what, error) => {
    const { faulty, retrying, events } = setup(10);
    faulty.failNext('save', 1, error);
    await expect(retrying.save('x', Buffer.from('x'))).rejects.toThrow('(injected)');
    expect(faulty.calls.save).toBe(1);
    expect(events).toEqual([]);
  });

  it.each([
    ['a reset', errno('ECONNRESET')],
    ['a timeout', errno('ETIMEDOUT')],
    ['a resolver that did not answer', errno('EAI_AGAIN')],
    ['a 500', s3Error('InternalError', 500)],
    ['a 503 SlowDown', s3Error('SlowDown', 503)],
    ['a 429', s3Error('TooManyRequests', 429)],
  ])('retries %s', async (_what, error) => {
    const { faulty, retrying, events } = setup(10);
    faulty.failNext('save', 2, error);
    await retrying.save('x', Buffer.from('x'));
    expect(faulty.calls.save).toBe(3);
    expect(events.map((event) => event.attempt)).toEqual([1, 2]);
  });

  it.each([
    ['nothing listening', errno('ECONNREFUSED')],
    ['a host that does not resolve', errno('ENOTFOUND')],
  ])('gives %s a short budget and says it gave up', async (_what, error) => {
    const { faulty, retrying, events } = setup(10);
    faulty.failNext('stat', 100, error);
    await expect(retrying.stat('config')).rejects.toThrow(
      /^cannot reach .+ \(stat config: .+\(injected\); gave up after 4 attempts\)$/,
    );
    expect(faulty.calls.stat).toBe(4);
    expect(events).toHaveLength(3);
  });

  it('tells onRetry the operation, object, attempt, error and next delay', async () => {
    const faulty = new FaultyBackend(new FsBackend(join(root, String(++stores))));
    const events: RetryEvent[] = [];
    const retrying = new RetryBackend(faulty, {
      minTimeout: 2,
      maxTimeout: 3,
      onRetry: (e) => events.push(e),
    });
    faulty.failNext('remove', 2);
    await retrying.remove('some/object');
    expect(
      events.map(({ operation, name, attempt, error }) => [operation, name, attempt, error.message]),
    ).toEqual([
      ['remove', 'some/object', 1, 'read ECONNRESET (injected)'],
      ['remove', 'some/object', 2, 'read ECONNRESET (injected)'],
    ]);
    for (const event of events) expect(event.delayMs).toBeGreaterThanOrEqual(2);
    for (const event of events) expect(event.delayMs).toBeLessThanOrEqual(3);
  });

  it('ends a backoff wait at once when its own signal aborts, whatever the operation was given', async () => {
    const faulty = new FaultyBackend(new FsBackend(join(root, String(++stores))));
    const stop = new AbortController();
    const retrying = new RetryBackend(faulty, {
      minTimeout: 60_000,
      signal: stop.signal,
      onRetry: () => stop.abort(new Error('received SIGTERM')),
    });
    faulty.failNext('stat', 10);
    const started = Date.now();
    await expect(retrying.stat('x')).rejects.toThrow('received SIGTERM');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(faulty.calls.stat).toBe(1);
    await expect(retrying.save('y', Buffer.from('y'))).rejects.toThrow('received SIGTERM');
    expect(faulty.calls.save).toBe(0);
  }, 10_000);
});

describe('retry backend', () => {
  it('retries transient failures until the operation succeeds', async () => {
    const { faulty, retrying, events } = setup();
    faulty.failNext('save', 2);
    await retrying.save('a', Buffer.from('saved at last'));
    expect(faulty.calls.save).toBe(3);
    expect(events.map((event) => [event.operation, event.attempt, event.retriesLeft])).toEqual([
      ['save', 1, 3],
      ['save', 2, 2],
    ]);
    faulty.failNext('stat', 3);
    expect(await retrying.stat('a')).toEqual({ name: 'a', size: 13 });
    faulty.failNext('remove', 1);
    await retrying.remove('a');
    expect(faulty.calls.remove).toBe(2);
  });

  it('replays a factory body on each attempt', async () => {
    const { faulty, retrying } = setup();
    const bytes = randomBytes(10_000);
    faulty.failNext('save', 2);
    await retrying.save('f', () => Readable.from([bytes]));
    expect(faulty.calls.save).toBe(3);
    expect((await readAll(await retrying.load('f'))).equals(bytes)).toBe(true);
  });

  it('never retries a bare stream: it cannot be replayed', async () => {
    const { faulty, retrying } = setup();
    faulty.failNext('save', 1);
    await expect(retrying.save('s', Readable.from([Buffer.from('once')]))).rejects.toThrow('ECONNRESET');
    expect(faulty.calls.save).toBe(1);
  });

  it('never retries NotFoundError or PermanentError', async () => {
    const { faulty, retrying, events } = setup();
    await expect(retrying.load('missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(retrying.stat('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(faulty.calls.load).toBe(1);
    expect(faulty.calls.stat).toBe(1);
    faulty.failNext('save', 1, () => new PermanentError('access denied'));
    await expect(retrying.save('x', Buffer.from('x'))).rejects.toThrow('access denied');
    expect(faulty.calls.save).toBe(1);
    expect(events).toEqual([]);
  });

  it('gives up after the configured retries with the last error', async () => {
    const { faulty, retrying } = setup(2);
    faulty.failNext('stat', 10);
    await expect(retrying.stat('x')).rejects.toThrow('ECONNRESET');
    expect(faulty.calls.stat).toBe(3);
  });

  it('stops retrying at once when aborted', async () => {
    const faulty = new FaultyBackend(new FsBackend(join(root, String(++stores))));
    const retrying = new RetryBackend(faulty, { retries: 10, minTimeout: 10_000 });
    faulty.failNext('stat', 10);
    const started = Date.now();
    await expect(retrying.stat('x', { signal: AbortSignal.timeout(50) })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(faulty.calls.stat).toBe(1);
  });

  it('resumes a load stream that breaks mid-way from the byte it reached', async () => {
    const { faulty, retrying, events } = setup();
    const bytes = randomBytes(3 * 1024 * 1024);
    await retrying.save('big', bytes);
    faulty.breakStreams(1024 * 1024 + 17, 2);
    expect((await readAll(await retrying.load('big'))).equals(bytes)).toBe(true);
    expect(faulty.calls.load).toBe(3);
    const resumes = events.map((event) => event.resumeAt);
    expect(resumes).toHaveLength(2);
    expect(resumes[0]).toBeGreaterThan(0);
    expect(resumes[1]).toBeGreaterThan(resumes[0]!);

    faulty.breakStreams(100_000, 3);
    const ranged = await readAll(await retrying.load('big', { offset: 12_345, length: 1_000_000 }));
    expect(ranged.equals(bytes.subarray(12_345, 1_012_345))).toBe(true);
  });

  it('retries a load stream that breaks before its first byte, within the retry budget', async () => {
    const { faulty, retrying } = setup(2);
    await retrying.save('obj', randomBytes(1000));
    faulty.breakStreams(0, 2);
    expect((await readAll(await retrying.load('obj'))).length).toBe(1000);
    expect(faulty.calls.load).toBe(3);
    faulty.breakStreams(0, 5);
    await expect(retrying.load('obj')).rejects.toThrow('ECONNRESET');
  });

  it('releases the source when the reader destroys the stream', async () => {
    const { faulty, retrying } = setup();
    await retrying.save('obj', randomBytes(5 * 1024 * 1024));
    const stream = await retrying.load('obj');
    expect(faulty.active).toBe(1);
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(faulty.active).toBe(0);
  });

  it('retries a listing that fails before its first entry', async () => {
    const { faulty, retrying } = setup();
    await retrying.save('l/1', Buffer.from('1'));
    await retrying.save('l/2', Buffer.from('2'));
    faulty.failNext('list', 2);
    const names: string[] = [];
    for await (const info of retrying.list('l/')) names.push(info.name);
    expect(names.sort()).toEqual(['l/1', 'l/2']);
    expect(faulty.calls.list).toBe(3);
  });
});
