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
import { openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

const REDIS_PASSWORD = 'redis-pw-Zq81xv';
const PASSPHRASE = 'archive-passphrase-Hk27wq';
const AGENT_TOKEN = 'agent-token-Mp49rt-0123456789';

describe.each(['fs', 's3'] as const)('the dashboard on the %s driver shows no secret', (driver) => {
  let redis: RedisServer;
  let s3: S3Server | undefined;
  let scratch: { path: string; remove(): Promise<void> };
  let pipeline: Pipeline;
  let dashboard: CliProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let secrets: string[];
  let configPath: string;
  let redisUrl: string;

  beforeAll(async () => {
    [redis, scratch] = await Promise.all([
      startRedis({ password: REDIS_PASSWORD }),
      scratchDir('cli-dash-secrets'),
    ]);
    redisUrl = `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`;
    s3 = driver === 's3' ? await startS3({ buckets: ['secrets'] }) : undefined;
    const archiveUrl = s3 === undefined ? join(scratch.path, 'archive') : 's3://secrets/history';
    env = { ...s3?.env, PULLBACK_PASSWORD: PASSPHRASE };
    secrets = [REDIS_PASSWORD, PASSPHRASE, AGENT_TOKEN, ...(s3 === undefined ? [] : [s3.secretAccessKey])];
    const source = join(scratch.path, 'source');
    await mkdir(source);
    await writeFile(join(source, 'notes.txt'), 'kept\n');
    const yaml = `redis: ${redisUrl}
archive: { url: ${archiveUrl} }
agentToken: ${AGENT_TOKEN}
components:
  docs:
    recipe: files
    path: ${source}
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(scratch.path, 'a')}, priority: 100 }
      - { name: docs-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: ${join(scratch.path, 'b')}, priority: 50 }
`;
    configPath = join(scratch.path, 'pullback.yaml');
    await writeFile(configPath, yaml);
    expect((await runCli(['archive', 'init', '--config', configPath], { env })).stderr).toBe('');
    const backup = await runCli(['backup', 'docs', '--config', configPath], { env });
    expect(backup.stderr).toBe('');

    pipeline = openPipeline({ redis: redisUrl });
    await pipeline.register(parseConfig(yaml, configPath));
    // What workers record when things fail can quote a connection string or a secret.
    await pipeline.registry.recordFailure('docs', {
      stage: 'pull',
      at: new Date().toISOString(),
      message: `cannot reach ${redisUrl}/0 (auth ${REDIS_PASSWORD}); key ${PASSPHRASE}; token ${AGENT_TOKEN}; s3 ${s3?.secretAccessKey ?? 'none'}`,
      final: true,
    });
    await pipeline.registry.reportFallback('docs', 'docs-b', 1, {
      healthy: false,
      running: false,
      reason: `restore failed: ${PASSPHRASE} refused`,
      updatedAt: new Date().toISOString(),
    });
  }, 120_000);

  afterAll(async () => {
    await dashboard?.stop('SIGKILL');
    await pipeline?.close();
    await Promise.all([redis?.stop(), s3?.stop()]);
    await scratch?.remove();
  });

  it('page, panel and JSON show the failure, the reason and the snapshot with every secret replaced', {
    timeout: 120_000,
  }, async () => {
    const port = await freePort();
    dashboard = startCli(['dashboard', '--config', configPath, '--port', String(port)], env);
    const [, url] = await dashboard.waitForOutput(/^(?:\{.*"msg":")?dashboard on (\S+) /m);
    const answers: Record<string, string> = {};
    for (const path of ['', 'panel', 'status.json']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(200);
      answers[path] = await response.text();
    }
    const data = JSON.parse(answers['status.json']!) as {
      status: { components: Array<{ failures: Array<{ message: string }> }> };
      timelines: Record<string, { snapshots: unknown[] }>;
    };
    expect(data.status.components[0]?.failures[0]?.message).toBe(
      `cannot reach redis://:***@127.0.0.1:${redis.port}/0 (auth ***); key ***; token ***; s3 ${s3 === undefined ? 'none' : '***'}`,
    );
    expect(data.timelines.docs?.snapshots).toHaveLength(1);
    for (const [path, text] of Object.entries(answers)) {
      if (path !== 'status.json') {
        expect(text).toContain(`cannot reach redis://:***@127.0.0.1:${redis.port}/0 (auth ***)`);
        expect(text).toContain('restore failed: *** refused');
        expect(text).toMatch(/<tr data-snapshot="[0-9a-f]{64}">/);
      }
      for (const secret of secrets) expect(text, `${path || 'page'} shows ${secret}`).not.toContain(secret);
    }
    expect(await dashboard.stop('SIGTERM')).toBe(0);
    for (const secret of secrets) expect(dashboard.output()).not.toContain(secret);
  });
});
