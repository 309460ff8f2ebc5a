import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  type RedisServer,
  type S3Server,
  scratchDir,
  startRedis,
  startS3,
} from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, startCli, startCliThrough } from './cli-process.js';
import { MAIN, runCli } from './run-cli.js';

/*
 * Issue 13's "Done means": no archive passphrase, S3 secret or Redis password reaches
 * any log line or error message of `pullback up`, in either log format, including the
 * errors of failed connections; and JSON lines parse and carry level, component,
 * instance, jobId and epoch.
 */

const REDIS_PASSWORD = 'RedisPw-7f3a9c';
const WRONG_REDIS_PASSWORD = 'WrongRedis-2d8b';
const PASSPHRASE = 'ArchivePass-5b8e1d';
const S3_SECRET = 'S3Secret-0c4f7a92';
/** The dashboard's token, from dashboardTokenFile: a secret the config itself does not hold. */
const DASHBOARD_TOKEN = 'DashboardToken-9e41c07b';
const SECRETS = [REDIS_PASSWORD, WRONG_REDIS_PASSWORD, PASSPHRASE, S3_SECRET, DASHBOARD_TOKEN];

let redis: RedisServer;
let s3: S3Server;
let scratch: { path: string; remove(): Promise<void> };
let configs = 0;
const running: CliProcess[] = [];

beforeAll(async () => {
  [redis, s3, scratch] = await Promise.all([
    startRedis({ password: REDIS_PASSWORD }),
    startS3({ buckets: ['logs'] }),
    scratchDir('cli-log-secrets'),
  ]);
  await mkdir(join(scratch.path, 'docs'));
  await writeFile(join(scratch.path, 'docs', 'readme.txt'), 'hello\n');
  await writeFile(join(scratch.path, 'dashboard-token'), `${DASHBOARD_TOKEN}\n`);
  for (const [archive, env] of [
    [join(scratch.path, 'archive'), {}],
    ['s3://logs/archive', s3Env()],
  ] as const) {
    const init = await runCli(['archive', 'init', '--archive', archive], {
      env: { PULLBACK_PASSWORD: PASSPHRASE, ...env },
    });
    expect(init.code).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  for (const up of running) await up.stop('SIGKILL');
  await Promise.all([redis?.stop(), s3?.stop()]);
  await scratch?.remove();
});

/**
 * A config: `docs` (files) backs up a directory; `leaky` backs up a directory whose
 * name holds the passphrase and the dashboard's token and does not exist, so its export
 * fails with an error that quotes the secrets, as a careless name or a driver's message would.
 */
async function configWith(
  redisPassword: string,
  archiveUrl = join(scratch.path, 'archive'),
): Promise<string> {
  const path = join(scratch.path, `pullback-${++configs}.yaml`);
  await writeFile(
    path,
    `redis: "redis://:${redisPassword}@127.0.0.1:${redis.port}"
archive: { url: "${archiveUrl}" }
stateDir: ${join(scratch.path, `state-${configs}`)}
dashboardTokenFile: ${join(scratch.path, 'dashboard-token')}
components:
  docs:
    recipe: files
    path: ${join(scratch.path, 'docs')}
    outbox: ${join(scratch.path, 'outbox-docs')}
    schedule: "@daily"
  leaky:
    recipe: files
    path: ${join(scratch.path, `missing-${PASSPHRASE}-${DASHBOARD_TOKEN}`)}
    outbox: ${join(scratch.path, 'outbox-leaky')}
    schedule: "@daily"
`,
  );
  return path;
}

/** Every secret, and the password's URL-encoded form, is absent from `output`. */
function expectNoSecret(output: string): void {
  for (const secret of SECRETS) expect(output).not.toContain(secret);
}

/** `pullback up` that must fail at start: its exit status and everything it wrote. */
async function failedUp(args: readonly string[], env: NodeJS.ProcessEnv) {
  const result = await runCli(['up', ...args], { env, timeoutMs: 60_000 });
  expect(result.code).not.toBe(0);
  return `${result.stdout}${result.stderr}`;
}

const ENV = { PULLBACK_PASSWORD: PASSPHRASE, AWS_SECRET_ACCESS_KEY: S3_SECRET };

/** s3rver's endpoint, with our secret key (s3rver takes any). */
function s3Env(): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_SECRET,
  };
}

describe.each([
  ['json', 'fs'],
  ['human', 's3'],
] as const)('pullback up --log-format %s (archive on %s)', (format, driver) => {
  it('a cycle and a failed export: lines with level, component, jobId and epoch, and no secret', async () => {
    const onS3 = driver === 's3';
    const config = await configWith(REDIS_PASSWORD, onS3 ? 's3://logs/archive' : undefined);
    const env = { ...ENV, ...(onS3 ? s3Env() : {}) };
    const up = startCli(['up', '--config', config, '--log-format', format], env);
    running.push(up);
    await up.waitForOutput(/running; stop with Ctrl-C/);
    for (const component of ['docs', 'leaky']) {
      const queued = await runCli(['export', component, '--now', '--config', config], { env });
      expect(queued.code).toBe(0);
    }
    await up.waitForOutput(/pull job \S+ done in/, 120_000);
    await up.waitForOutput(/export job export-now\.leaky failed: /, 120_000);
    expect(await up.stop()).toBe(0);
    const output = up.output();
    expectNoSecret(output);
    expect(output).toContain(`missing-***-***`);
    const lines = output.split('\n').filter((line) => line !== '' && !line.startsWith('pullback: stopping'));

    if (format === 'json') {
      const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const record of records) {
        expect(record).toMatchObject({
          level: expect.any(String),
          time: expect.any(String),
          msg: expect.any(String),
        });
      }
      expect(records).toContainEqual(
        expect.objectContaining({
          level: 'info',
          component: 'docs',
          jobId: 'export-now.docs',
          epoch: 1,
          msg: 'export job export-now.docs started',
        }),
      );
      expect(records).toContainEqual(
        expect.objectContaining({
          level: 'info',
          component: 'docs',
          jobId: expect.stringMatching(/^pull\./),
          epoch: 1,
          msg: expect.stringMatching(/^pull job \S+ done in [\d.]+ s$/),
        }),
      );
      const failed = records.find(
        (record) => record.jobId === 'export-now.leaky' && record.level === 'error',
      );
      expect(failed).toMatchObject({
        component: 'leaky',
        epoch: 1,
        msg: expect.stringContaining('missing-***'),
        err: { message: expect.stringContaining('missing-***') },
      });
      // `up` says what runs here in the same format.
      expect(records).toContainEqual(
        expect.objectContaining({ msg: expect.stringMatching(/^ {2}pull-backup worker {2}docs:/) }),
      );
    } else {
      expect(output).toMatch(
        /^\d\d:\d\d:\d\d INFO {2}docs export job export-now\.docs started jobId=export-now\.docs epoch=1$/m,
      );
      expect(output).toMatch(
        /^\d\d:\d\d:\d\d ERROR leaky export job export-now\.leaky failed: .*missing-\*\*\*.* jobId=export-now\.leaky epoch=1/m,
      );
      expect(output).toContain('  pull-backup worker  docs:');
    }
  }, 240_000);

  it('a wrong Redis password: one error line that shows neither password', async () => {
    const output = await failedUp(
      ['--config', await configWith(WRONG_REDIS_PASSWORD), '--log-format', format],
      ENV,
    );
    expect(output).toMatch(/authentication failed \(WRONGPASS/);
    expectNoSecret(output);
  }, 90_000);

  it('an S3 location with no archive (s3rver takes any secret, so none is refused): the error shows no secret', async () => {
    const config = await configWith(REDIS_PASSWORD, 's3://logs/nothing-here');
    const output = await failedUp(['--config', config, '--log-format', format], { ...ENV, ...s3Env() });
    expect(output).toMatch(/not a pullback archive: s3:\/\/logs\/nothing-here/);
    expectNoSecret(output);
  }, 90_000);

  it('an S3 endpoint where nothing listens: its retries and the last error show no secret', async () => {
    const config = await configWith(REDIS_PASSWORD, 's3://logs/archive');
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const env = { ...ENV, AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test' };
    const output = await failedUp(['--config', config, '--log-format', format], env);
    expect(output).toMatch(/attempt 1 failed: connect ECONNREFUSED/);
    expect(output).toMatch(/cannot reach s3:\/\/logs\/archive/);
    expectNoSecret(output);
  }, 90_000);
});

describe('pullback up on a terminal', () => {
  it('writes human lines by default, redacted as well', async () => {
    const config = await configWith(REDIS_PASSWORD);
    // `script` gives the command a terminal (util-linux, in every Debian); SIGTERM reaches `up` through it.
    const up = startCliThrough(
      'script',
      ['-qfec', `exec ${process.execPath} ${MAIN} up --config ${config}`, '/dev/null'],
      ENV,
    );
    running.push(up);
    await up.waitForOutput(/^running; stop with Ctrl-C/m);
    const queued = await runCli(['export', 'leaky', '--now', '--config', config], { env: ENV });
    expect(queued.code).toBe(0);
    await up.waitForOutput(
      /^\d\d:\d\d:\d\d ERROR leaky export job export-now\.leaky failed: .*missing-\*\*\*/m,
      120_000,
    );
    expect(up.output()).toMatch(
      /^pullback up: config \S+, redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+, archive /m,
    );
    expect(up.output()).not.toContain('{"level"');
    expectNoSecret(up.output());
    await up.stop();
  }, 240_000);
});

describe("a command's last error line", () => {
  it('is redacted of the secrets too', async () => {
    const missing = join(scratch.path, `missing-${PASSPHRASE}`);
    const result = await runCli(['backup', 'files', missing, '--archive', join(scratch.path, 'archive')], {
      env: ENV,
    });
    expect(result.code).not.toBe(0);
    expect(result.errorLines).toEqual([expect.stringContaining('missing-***')]);
    expectNoSecret(result.stdout + result.stderr);
  }, 60_000);
});
