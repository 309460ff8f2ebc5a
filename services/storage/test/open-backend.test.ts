import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { FsBackend } from '../src/fs-backend.js';
import { LimitBackend } from '../src/limit-backend.js';
import { openBackend, openDriver } from '../src/open-backend.js';
import { RetryBackend } from '../src/retry-backend.js';
import { S3Backend } from '../src/s3-backend.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pullback-open-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('openBackend', () => {
  it('opens a plain path and a file:// URL as the same directory', async () => {
    const byPath = openBackend(join(root, 'archive'));
    const byUrl = openBackend(pathToFileURL(join(root, 'archive')).href);
    await byPath.save('a/b', Buffer.from('same place'));
    expect(await byUrl.stat('a/b')).toEqual({ name: 'a/b', size: 10 });
    expect(await readFile(join(root, 'archive', 'a', 'b'), 'utf8')).toBe('same place');
    expect(byUrl.location).toBe(join(root, 'archive'));
  });

  it('wraps the driver in a limit, and that in retries unless turned off', () => {
    expect(openBackend(root)).toBeInstanceOf(RetryBackend);
    expect(openBackend(root, { retry: false })).toBeInstanceOf(LimitBackend);
    expect(openBackend(root, { connections: 3 }).properties.connections).toBe(3);
    expect(openDriver(root)).toBeInstanceOf(FsBackend);
    expect(openDriver('s3://bucket/prefix')).toBeInstanceOf(S3Backend);
  });

  it('rejects an unknown scheme or an empty URL with one clear line', () => {
    expect(() => openBackend('gs://bucket/x')).toThrow(PermanentError);
    expect(() => openBackend('https://user:secret@example.com/x')).toThrow(
      'unsupported storage URL scheme "https:": use a path, file:///path or s3://bucket/prefix',
    );
    expect(() => openBackend('https://user:secret@example.com/x')).not.toThrow(/secret/);
    expect(() => openBackend('')).toThrow(PermanentError);
    expect(() => openBackend('file://host/x')).toThrow(PermanentError);
    expect(() => openBackend('s3://')).toThrow(PermanentError);
  });
});
