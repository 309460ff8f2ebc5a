import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
} from '@pullback/harness';
import { connectRedis, parseConfig, type Redis, Registry, registryKeys } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let server: PostgresServer;
let redis: RedisServer;
let connection: Redis;
let scratch: { path: string; remove(): Promise<void> };
let config: string;

beforeAll(async () => {
  [server, redis, scratch] = await Promise.all([
    startPostgres(),
    startRedis(),
    scratchDir('cli-restore-point'),
  ]);
  connection = connectRedis(redis.url);
  // The config still calls shop-a active (nothing listens on its port); the registry's
  // live active, after an activation, is shop-b: the one a restore point must go to.
  config = join(scratch.path, 'pullback.yaml');
  const text = `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${server.port}, dataDir: ${server.dataDir}, priority: 50 }
`;
  await writeFile(config, text);
  const registry = new Registry(connection);
  await registry.registerConfig(parseConfig(text));
  await connection.hset(registryKeys().component('shop'), 'active', 'shop-b');
}, 120_000);

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
  await server?.stop();
  await scratch?.remove();
});

describe('restore-point', () => {
  it("marks the registry's live active and prints the point's LSN", { timeout: 60_000 }, async () => {
    const result = await runCli(['restore-point', 'shop', 'before-migration', '--config', config]);
    expect(result.stderr).toBe('');
    const lsn = /^restore point before-migration on shop-b at ([0-9A-F]+\/[0-9A-F]+)\n$/.exec(
      result.stdout,
    )?.[1];
    expect(lsn).toBeDefined();
    // The record is in the server's WAL at that position.
    expect(await server.psql(`select '${lsn}'::pg_lsn <= pg_current_wal_insert_lsn()`)).toBe('t');
  });

  it('refuses an unknown component and a name too long, in one line', { timeout: 60_000 }, async () => {
    const unknown = await runCli(['restore-point', 'nope', 'x', '--config', config]);
    expect(unknown.code).toBe(1);
    expect(unknown.errorLines).toEqual([expect.stringMatching(/^pullback: no component nope in /)]);
    const long = await runCli(['restore-point', 'shop', 'x'.repeat(64), '--config', config]);
    expect(long.code).toBe(1);
    expect(long.errorLines).toEqual([
      expect.stringMatching(/^pullback: restore point name "x+" must have 1 to 63 bytes/),
    ]);
  });
});
