import { describe, expect, it } from 'vitest';
import { ConfigError, describeRedis, parseConfig } from '../src/index.js';

const REST = `archive: { url: /var/lib/pullback/archive }
components:
  docs: { recipe: files, path: /srv/docs, outbox: /var/lib/pullback/outbox/docs }
`;

/** A config whose `redis:` is `redis` (YAML, as written after the key). */
const withRedis = (redis: string) => `redis: ${redis}\n${REST}`;

/** The config's problems as the user sees them, or [] when it is valid. */
function problems(text: string): readonly string[] {
  try {
    parseConfig(text, 'pullback.yaml');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.lines;
    throw error;
  }
}

describe('config: redis through Sentinel', () => {
  it('accepts the Sentinel form, every key, with the sentinel port 26379 by default', () => {
    const config = parseConfig(
      withRedis(`
  sentinels:
    - { host: 10.0.0.1, port: 26380 }
    - { host: sentinel-b }
  name: mymaster
  password: "s3cret server"
  sentinelPassword: "s3cret sentinel"
  db: 2`),
    );
    expect(config.redis).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26380 },
        { host: 'sentinel-b', port: 26379 },
      ],
      name: 'mymaster',
      password: 's3cret server',
      sentinelPassword: 's3cret sentinel',
      db: 2,
    });
    expect(parseConfig(withRedis('{ sentinels: [{ host: h, port: 1 }], name: m }')).redis).toEqual({
      sentinels: [{ host: 'h', port: 1 }],
      name: 'm',
    });
  });

  it('still accepts a URL', () => {
    expect(parseConfig(withRedis('rediss://:pw@redis.example:6380/1')).redis).toBe(
      'rediss://:pw@redis.example:6380/1',
    );
  });

  it.each([
    ['no name', '{ sentinels: [{ host: h }] }', 'redis.name: required'],
    ['no sentinels', '{ name: m }', 'redis.sentinels: required'],
    ['an empty list of sentinels', '{ sentinels: [], name: m }', 'redis.sentinels: must list at least 1'],
    [
      'a port that is no number',
      '{ sentinels: [{ host: h, port: "26379x" }], name: m }',
      'redis.sentinels[0].port: expected an integer, got "26379x"',
    ],
    [
      'a port out of range',
      '{ sentinels: [{ host: h }, { host: h, port: 70000 }], name: m }',
      'redis.sentinels[1].port: must be at most 65535, got 70000',
    ],
    ['a sentinel without host', '{ sentinels: [{ port: 1 }], name: m }', 'redis.sentinels[0].host: required'],
    ['an empty name', '{ sentinels: [{ host: h }], name: "" }', 'redis.name: must not be empty'],
    [
      'a negative db',
      '{ sentinels: [{ host: h }], name: m, db: -1 }',
      'redis.db: must be at least 0, got -1',
    ],
    ['an unknown key', '{ sentinels: [{ host: h }], name: m, master: x }', 'redis.master: unknown key'],
    [
      'a key in other spelling',
      '{ sentinels: [{ host: h }], name: m, sentinel_password: x }',
      'redis.sentinel_password: unknown key (did you mean "sentinelPassword"?)',
    ],
    [
      'a list',
      '[redis://a, redis://b]',
      'redis: expected a redis:// URL or a mapping with sentinels and name, got a list',
    ],
    ['a number', '6379', 'redis: expected a redis:// URL or a mapping with sentinels and name, got a number'],
    ['a bad URL', 'localhost:6379', 'redis: expected a redis:// or rediss:// URL, got "localhost:6379"'],
  ])('rejects %s with one line naming the key', (_case, redis, line) => {
    expect(problems(withRedis(redis))).toEqual([`pullback.yaml: ${line}`]);
  });

  it('never echoes a password of the wrong type', () => {
    expect(problems(withRedis('{ sentinels: [{ host: h }], name: m, password: 91827364 }'))).toEqual([
      'pullback.yaml: redis.password: expected a string (quote it), got a number',
    ]);
    expect(problems(withRedis('{ sentinels: [{ host: h }], name: m, sentinelPassword: 55501234 }'))).toEqual([
      'pullback.yaml: redis.sentinelPassword: expected a string (quote it), got a number',
    ]);
  });

  it('names either form without its password', () => {
    expect(describeRedis('redis://:hunter2@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    const sentinel = parseConfig(
      withRedis(
        '{ sentinels: [{ host: 10.0.0.1 }, { host: 10.0.0.2, port: 26380 }], name: mymaster, password: hunter2, sentinelPassword: hunter3 }',
      ),
    ).redis;
    expect(describeRedis(sentinel)).toBe('sentinels 10.0.0.1:26379, 10.0.0.2:26380 (master "mymaster")');
  });
});
