import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const PASSWORD = 'Right123';
const WRONG = 'WrongQ999';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let configs = 0;

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis({ password: PASSWORD }), scratchDir('cli-redis-secrets')]);
});

afterAll(async () => {
  await redis?.stop();
  await scratch?.remove();
});

/** A config whose redis is `redisUrl`, written to a fresh file. */
async function configWith(redisUrl: string): Promise<string> {
  const path = join(scratch.path, `pullback-${++configs}.yaml`);
  await writeFile(
    path,
    `redis: "${redisUrl}"
archive: { url: ${join(scratch.path, 'archive')} }
components:
  docs:
    recipe: files
    path: ${scratch.path}
    outbox: ${join(scratch.path, 'outbox')}
    schedule: "@daily"
`,
  );
  return path;
}

describe('redis passwords in messages', () => {
  const port = () => redis.port;

  it.each([
    ['a password= parameter', () => `redis://127.0.0.1:${port()}/?password=${WRONG}`],
    ['user:password@', () => `redis://default:${WRONG}@127.0.0.1:${port()}`],
    ['a password-only userinfo', () => `redis://:${WRONG}@127.0.0.1:${port()}/0`],
  ])('a wrong password given as %s is refused as such, and never printed', async (_form, url) => {
    const result = await runCli(['status', '--config', await configWith(url())]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain(WRONG);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      new RegExp(
        `^pullback: redis at redis://.*127\\.0\\.0\\.1:${port()}.*: authentication failed \\(WRONGPASS`,
      ),
    );
    expect(result.errorLines[0]).toContain('***');
  });

  it('a missing password is refused as such', async () => {
    const result = await runCli(['status', '--config', await configWith(`redis://127.0.0.1:${port()}`)]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([expect.stringMatching(/: authentication failed \(NOAUTH/)]);
  });

  it('an unreachable redis is told apart from a refused password, and its password is not printed', async () => {
    const nothing = await freePort();
    const result = await runCli([
      'status',
      '--config',
      await configWith(`redis://127.0.0.1:${nothing}/?password=${WRONG}&db=0`),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain(WRONG);
    expect(result.errorLines).toEqual([
      `pullback: cannot reach redis at redis://127.0.0.1:${nothing}/?password=***&db=0: connect ECONNREFUSED 127.0.0.1:${nothing}; HINT: start redis-server, or fix "redis" in the config`,
    ]);
  });

  it('the right password reaches redis', async () => {
    const result = await runCli([
      'status',
      '--config',
      await configWith(`redis://127.0.0.1:${port()}/?password=${PASSWORD}`),
    ]);
    expect(result.stderr).not.toMatch(/authentication failed|cannot reach|\.yaml/);
  });

  it('config check does not echo a password in a malformed redis URL', async () => {
    const result = await runCli([
      'config',
      'check',
      await configWith(`http://:${WRONG}@host:6379/?password=${WRONG}`),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('redis');
    expect(result.stderr).not.toContain(WRONG);
  });
});
