import { describe, expect, it } from 'vitest';
import { redactUrl } from '../src/redact-url.js';

describe('redactUrl', () => {
  it.each([
    ['redis://127.0.0.1:16399/?password=WrongQ999', 'redis://127.0.0.1:16399/?password=***'],
    ['redis://user:WrongQ999@host:6379/0', 'redis://user:***@host:6379/0'],
    ['rediss://:WrongQ999@host', 'rediss://:***@host'],
    ['redis://host?db=1&password=WrongQ999&tls=1', 'redis://host?db=1&password=***&tls=1'],
    ['s3://bucket/p?X-Amz-Signature=WrongQ999&x=1', 's3://bucket/p?X-Amz-Signature=***&x=1'],
    ['http://h/?token=WrongQ999;secret_key=WrongQ999', 'http://h/?token=***;secret_key=***'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['/var/backups/archive', '/var/backups/archive'],
  ])('%s -> %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});
