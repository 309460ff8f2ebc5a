import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  quietSchedule,
  type RedisSentinels,
  scratchDir,
  startRedisSentinels,
} from '@pullback/harness';
import { type FullStatus, openPipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './run-cli.js';

const SERVER_PASSWORD = 'Server-pw9';
const SENTINEL_PASSWORD = 'Sentinel-pw9';
const WRONG = 'Wrong-pw7';

let set: RedisSentinels;
let scratch: { path: string; remove(): Promise<void> };
let configs = 0;

beforeAll(async () => {
  [set, scratch] = await Promise.all([
    startRedisSentinels({ password: SERVER_PASSWORD, sentinelPassword: SENTINEL_PASSWORD }),
    scratchDir('cli-status-sentinel'),
  ]);
}, 120_000);

afterAll(async () => {
  await set?.stop();
  await scratch?.remove();
});

/** A config file whose `redis` is the Sentinel form, with `redis` lines replacing the defaults. */
async function configWith(redis: {
  sentinels?: readonly number[];
  password?: string;
  sentinelPassword?: string;
}): Promise<string> {
  const ports = redis.sentinels ?? set.config.sentinels.map((sentinel) => sentinel.port);
  const path = join(scratch.path, `pullback-${++configs}.yaml`);
  await writeFile(
    path,
    `redis:
  sentinels: [${ports.map((port) => `{ host: 127.0.0.1, port: ${port} }`).join(', ')}]
  name: ${set.name}
  password: ${redis.password ?? SERVER_PASSWORD}
  sentinelPassword: ${redis.sentinelPassword ?? SENTINEL_PASSWORD}
archive: { url: ${join(scratch.path, 'archive')} }
components:
  docs:
    recipe: files
    path: ${scratch.path}
    outbox: ${join(scratch.path, 'outbox')}
    schedule: "${quietSchedule()}"
`,
  );
  return path;
}

/** `pullback status --json` on `path`, parsed. */
async function statusJson(path: string): Promise<FullStatus> {
  const result = await runCli(['status', '--json', '--config', path]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as FullStatus;
}

describe('pullback up with redis through Sentinel', () => {
  it('runs its workers through the sentinels, names them without passwords, and exits 0 on SIGTERM', {
    timeout: 120_000,
  }, async () => {
    // Human lines (its stdout is a pipe, JSON by default): the banner's text as a person reads it.
    const config = await configWith({});
    const up = spawn(
      process.execPath,
      [MAIN, 'up', '--roles', 'export', '--config', config, '--log-format', 'human'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const started = new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('running; stop with Ctrl-C')) resolve();
      };
      up.stdout.on('data', read);
      up.stderr.on('data', read);
      up.once('exit', () => reject(new Error(`up exited before it ran: ${output}`)));
    });
    const exited = once(up, 'exit');
    try {
      await started;
    } catch (error) {
      up.kill('SIGKILL');
      throw error;
    }
    const ports = set.config.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(', ');
    expect(output).toContain(`redis sentinels ${ports} (master "pullback")`);
    up.kill('SIGTERM');
    // Exit 0 only if closing left nothing open: a leftover connection would hold the process past its grace.
    const [code] = await exited;
    expect(output).toContain('pullback up: stopped');
    expect(code).toBe(0);
    expect(output).not.toContain(SERVER_PASSWORD);
    expect(output).not.toContain(SENTINEL_PASSWORD);
  });
});

describe('pullback status with redis through Sentinel', () => {
  it('reads the registry through the sentinels, and again after they failed over to the replica', {
    timeout: 240_000,
  }, async () => {
    const path = await configWith({});
    const pipeline = openPipeline({ redis: parseConfig(await readConfig(path)).redis });
    try {
      await pipeline.register(parseConfig(await readConfig(path)));
      // Replicated before the master dies, so that the promoted replica has it.
      expect(await pipeline.connection.wait(1, 30_000)).toBe(1);
    } finally {
      await pipeline.close();
    }
    const before = await statusJson(path);
    expect(before.components.map((component) => [component.name, component.epoch])).toEqual([['docs', 1]]);
    const text = await runCli(['status', '--config', path]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('docs');

    await set.primary.kill();
    await set.waitForMaster(set.replica.port, 120_000);
    const after = await statusJson(path);
    expect(after.components.map((component) => [component.name, component.epoch])).toEqual([['docs', 1]]);
  });

  it.each([
    ["the master's", { password: WRONG }],
    ["the sentinels'", { sentinelPassword: WRONG }],
  ])('a wrong password (%s) is refused in one line that never prints it', async (_which, passwords) => {
    const result = await runCli(['status', '--config', await configWith(passwords)]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain(WRONG);
    expect(result.stderr).not.toContain(SERVER_PASSWORD);
    expect(result.stderr).not.toContain(SENTINEL_PASSWORD);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      /^pullback: redis at sentinels 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ \(master "pullback"\): authentication failed \(.*WRONGPASS.*\); HINT: check "password" \(the master's\) or "sentinelPassword" under "redis" in the config$/,
    );
  });

  it('sentinels that are not there are one line naming them, without the passwords', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const result = await runCli(['status', '--config', await configWith({ sentinels: [a, b] })]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain(SERVER_PASSWORD);
    expect(result.stderr).not.toContain(SENTINEL_PASSWORD);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      new RegExp(
        `^pullback: cannot reach redis at sentinels 127\\.0\\.0\\.1:${a}, 127\\.0\\.0\\.1:${b} \\(master "pullback"\\): no sentinel answered: .+; HINT: start redis-sentinel and redis-server, or fix "redis" in the config$`,
      ),
    );
  });
});

async function readConfig(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8');
}
