import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyFile, initArchive } from '@pullback/archive';
import { type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeRegExp, MAIN, runCli } from './run-cli.js';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
let archiveUrl: string;
let otherKey: string;
const PASSPHRASE = 'correct horse battery staple';

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-archive-key')]);
  archiveUrl = join(scratch.path, 'archive');
  await initArchive({ archive: archiveUrl, passphrase: PASSPHRASE });
  // A valid key file, of another archive: the config names it.
  otherKey = join(scratch.path, 'other.key');
  await createKeyFile(otherKey);
  configPath = join(scratch.path, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}\narchive: { url: ${archiveUrl}, keyFile: ${otherKey} }\ncomponents: {}\n`,
  );
}, 120_000);

afterAll(async () => {
  await redis?.stop();
  await scratch?.remove();
});

/**
 * `pullback up` until it says it runs (then SIGTERM) or it ends by itself; returns its
 * exit status and stderr.
 */
async function up(
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<{ code: number | null; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PULLBACK_')),
  );
  const child = spawn(process.execPath, [MAIN, 'up', '--config', configPath, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  let stdout = '';
  let stopping = false;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    // One SIGTERM: a second one stops at once, with status 143. Its stdout is a pipe: JSON lines.
    if (!stopping && stdout.includes('"msg":"running; ')) stopping = child.kill('SIGTERM');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('the archive key is found in one order by every command and by up', () => {
  it("PULLBACK_PASSWORD comes before the config's keyFile, for up as for snapshots", async () => {
    const env = { PULLBACK_PASSWORD: PASSPHRASE };
    const snapshots = await runCli(['snapshots', '--config', configPath], { env });
    expect(snapshots.errorLines).toEqual([]);
    expect(snapshots.stdout).toBe('no snapshots\n');
    const running = await up(env);
    // The one line is the SIGTERM that ends the test.
    expect(running.stderr.split('\n').filter((line) => line !== '')).toEqual([
      expect.stringMatching(/^pullback: stopping/),
    ]);
    expect(running.code).toBe(0);
  }, 120_000);

  it('PULLBACK_KEY_FILE comes before PULLBACK_PASSWORD, for up as for snapshots', async () => {
    const env = { PULLBACK_PASSWORD: PASSPHRASE, PULLBACK_KEY_FILE: otherKey };
    const wrong = escapeRegExp(`pullback: wrong key file for archive ${archiveUrl}`);
    const snapshots = await runCli(['snapshots', '--config', configPath], { env });
    expect(snapshots.errorLines).toEqual([expect.stringMatching(new RegExp(`^${wrong}`))]);
    expect(snapshots.code).toBe(12);
    const stopped = await up(env);
    expect(stopped.stderr).toMatch(new RegExp(`^${wrong}`));
    expect(stopped.code).toBe(12);
  }, 120_000);

  it('--key-file comes first, for up as for snapshots', async () => {
    const env = { PULLBACK_PASSWORD: PASSPHRASE };
    const wrong = escapeRegExp(`pullback: wrong key file for archive ${archiveUrl}`);
    const snapshots = await runCli(['snapshots', '--config', configPath, '--key-file', otherKey], { env });
    expect(snapshots.errorLines).toEqual([expect.stringMatching(new RegExp(`^${wrong}`))]);
    expect(snapshots.code).toBe(12);
    const stopped = await up(env, ['--key-file', otherKey]);
    expect(stopped.stderr).toMatch(new RegExp(`^${wrong}`));
    expect(stopped.code).toBe(12);
  }, 120_000);
});
