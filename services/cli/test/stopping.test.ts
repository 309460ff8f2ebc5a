import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeRegExp, MAIN, runCli } from './run-cli.js';

let work: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pullback-cli-stopping-'));
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

/** An S3 endpoint where nothing listens, with credentials so the SDK gets as far as connecting. */
async function deadS3(): Promise<{ env: NodeJS.ProcessEnv; endpoint: string }> {
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    },
  };
}

describe('storage that is not there', () => {
  it('an S3 endpoint with nothing listening fails within seconds, retries shown, with one clear last line', async () => {
    const { env, endpoint } = await deadS3();
    const started = Date.now();
    const result = await runCli(
      ['snapshots', '--archive', 's3://bucket/history', '--key-file', join(work, 'key')],
      {
        env,
      },
    );
    const seconds = (Date.now() - started) / 1000;
    expect(result.code).toBe(1);
    const retries = result.errorLines.slice(0, -1);
    expect(retries).toHaveLength(3);
    for (const [index, line] of retries.entries()) {
      expect(line).toMatch(
        new RegExp(
          `^pullback: load config \\(s3://bucket/history at ${escapeRegExp(endpoint)}\\): attempt ${index + 1} failed: connect ECONNREFUSED .+; retrying \\(${3 - index} retr(y|ies) left\\)$`,
        ),
      );
    }
    expect(result.errorLines.at(-1)).toMatch(
      new RegExp(
        `^pullback: cannot reach s3://bucket/history at ${escapeRegExp(endpoint)} \\(load config: connect ECONNREFUSED .+; gave up after 4 attempts\\)$`,
      ),
    );
    // Three waits of at most 1, 2 and 4 s, plus a loaded machine's start-up.
    expect(seconds).toBeLessThan(20);
  }, 60_000);
});

describe('SIGINT and SIGTERM', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s during storage retries ends the command at once, with status %i',
    async (signal, status) => {
      const { env } = await deadS3();
      const child = spawn(
        process.execPath,
        [MAIN, 'snapshots', '--archive', 's3://bucket/history', '--key-file', join(work, 'key')],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(child);
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      const firstRetry = new Promise<void>((resolve) => {
        child.stderr?.on('data', (text: string) => {
          stderr += text;
          if (stderr.includes('attempt 1 failed')) resolve();
        });
      });
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      await firstRetry;
      const killedAt = Date.now();
      child.kill(signal);
      const [code] = await exited;
      const seconds = (Date.now() - killedAt) / 1000;
      expect(code).toBe(status);
      expect(seconds).toBeLessThan(2.5);
      expect(stderr).toContain(`pullback: received ${signal}`);
      expect(stderr).not.toContain('attempt 2 failed');
    },
    60_000,
  );
});

describe('config size', () => {
  it('a 50 MB config is refused at once with one line', async () => {
    const path = join(work, 'huge.yaml');
    await writeFile(path, 'redis: redis://127.0.0.1:6379\n');
    await truncate(path, 50 * 1024 * 1024);
    const started = Date.now();
    const result = await runCli(['config', 'check', path]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([`${path}: too large for a config (50.0 MiB; at most 1 MiB)`]);
    // A node start on a loaded machine; the refusal itself takes no time (see the pipeline's config tests).
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
