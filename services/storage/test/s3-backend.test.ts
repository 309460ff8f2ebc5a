import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type S3Server, startS3 } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotFoundError, PermanentError } from '../src/errors.js';
import { openBackend } from '../src/open-backend.js';
import { parseS3Url, S3Backend, type S3BackendOptions } from '../src/s3-backend.js';
import { readAll } from './byte-streams.js';
import { describeBackendContract } from './contract.js';

const BUCKET = 'contract';
let server: S3Server;
let runs = 0;

beforeAll(async () => {
  server = await startS3({ buckets: [BUCKET] });
});

afterAll(async () => {
  await server?.stop();
});

function backend(options: Partial<S3BackendOptions> = {}): S3Backend {
  return new S3Backend({
    bucket: BUCKET,
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...options,
  });
}

async function names(target: S3Backend, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for await (const info of target.list(prefix)) found.push(info.name);
  return found.sort();
}

// Each test gets its own prefix in the one bucket: as good as an empty store.
describeBackendContract('s3', async () => backend({ prefix: `run-${++runs}` }));

describe('s3 backend', () => {
  // The test server itself: s3rver used to die when a delete emptied a directory just
  // as a save was about to write into it (the lock protocol does exactly that). Every
  // request succeeds, first time (maxAttempts 1), and it answers after. What it lists
  // is not checked whole: under load it once listed an object removed just after its
  // save (dir/62 of 300, CI), a race of its own files that S3 does not have.
  it('survives saves racing removes in the same directory', async () => {
    const scoped = backend({ prefix: `race-${++runs}`, maxAttempts: 1 });
    await scoped.save('dir/0', Buffer.from('0'));
    for (let i = 1; i <= 300; i++) {
      await Promise.all([scoped.save(`dir/${i}`, Buffer.from(String(i))), scoped.remove(`dir/${i - 1}`)]);
    }
    const left = await names(scoped);
    expect(left).toContain('dir/300');
    // A remove that did nothing would leave all 301.
    expect(left.length).toBeLessThan(10);
    expect((await readAll(await scoped.load('dir/300'))).toString()).toBe('300');
  });

  it('keeps objects under the URL prefix and names them relative to it', async () => {
    const scoped = backend({ prefix: 'scoped/deep' });
    await scoped.save('a/b', Buffer.from('x'));
    expect(await names(scoped)).toEqual(['a/b']);
    expect(await names(backend(), 'scoped/')).toEqual(['scoped/deep/a/b']);
    expect((await readAll(await backend().load('scoped/deep/a/b'))).toString()).toBe('x');
  });

  it('skips keys that are not valid names (folder markers) in listings', async () => {
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'foreign/dir/', Body: '' }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'foreign/ok', Body: 'ok' }));
    client.destroy();
    expect(await names(backend({ prefix: 'foreign' }))).toEqual(['ok']);
  });

  it('stores multipart uploads whole (several parts, several buffers)', async () => {
    const target = backend({ prefix: 'multipart', partSize: 5 * 1024 * 1024, queueSize: 2 });
    const big = randomBytes(17 * 1024 * 1024);
    await target.save('buffer', big);
    await target.save('stream', Readable.from([big.subarray(0, 7_000_000), big.subarray(7_000_000)]));
    expect((await readAll(await target.load('buffer'))).equals(big)).toBe(true);
    expect((await readAll(await target.load('stream'))).equals(big)).toBe(true);
    const middle = await readAll(await target.load('stream', { offset: 5 * 1024 * 1024 - 10, length: 20 }));
    expect(middle.equals(big.subarray(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10))).toBe(true);
  });

  it('reports a missing bucket and bad credentials as PermanentError', async () => {
    const noBucket = backend({ bucket: 'no-such-bucket' });
    await expect(noBucket.save('x', Buffer.from('x'))).rejects.toBeInstanceOf(PermanentError);
    await expect(noBucket.load('x')).rejects.toBeInstanceOf(PermanentError);
    await expect(names(noBucket)).rejects.toBeInstanceOf(PermanentError);
    const stranger = backend({ credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'wrong' } });
    await expect(stranger.save('x', Buffer.from('x'))).rejects.toBeInstanceOf(PermanentError);
    await expect(stranger.load('x')).rejects.toBeInstanceOf(PermanentError);
  });

  it('is opened from an s3:// URL and the standard AWS environment variables', async () => {
    for (const [key, value] of Object.entries(server.env)) vi.stubEnv(key, value);
    try {
      const opened = openBackend(`s3://${BUCKET}/from-env/`, { retry: { retries: 1, minTimeout: 1 } });
      expect(opened.location).toBe(`s3://${BUCKET}/from-env at ${server.endpoint}`);
      await opened.save('hello', Readable.from([Buffer.from('hello from the environment')]));
      expect((await readAll(await opened.load('hello', { offset: 11 }))).toString()).toBe('the environment');
      await opened.remove('hello');
      await expect(opened.stat('hello')).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('parseS3Url', () => {
  it('splits bucket and prefix', () => {
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/some/prefix/')).toEqual({ bucket: 'bucket', prefix: 'some/prefix' });
  });

  it('rejects what is not a bucket and a clean prefix', () => {
    for (const url of [
      's3://',
      's3:///prefix',
      's3://bucket/a//b',
      's3://bucket/a/../b',
      'http://bucket/x',
    ]) {
      expect(() => parseS3Url(url), url).toThrow(PermanentError);
    }
  });
});
