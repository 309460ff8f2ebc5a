import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initArchive } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { closePools, postmasterStatus, startStandby, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promtoolProblems, scrape } from './prometheus-text.js';
import { MAIN, runCli } from './run-cli.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
let fallbackDataDir: string;
let agentPort: number;
let up: ChildProcess | undefined;

beforeAll(async () => {
  [redis, active, scratch] = await Promise.all([
    startRedis(),
    startPostgres(),
    scratchDir('cli-up-instance'),
  ]);
  const root = scratch.path;
  await chmod(root, 0o755);
  const socketDir = join(root, 'socket');
  await mkdir(socketDir);
  const owner = await postgresOwner();
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') });
  // A fallback made as an import would, then stopped: its agent is what starts it.
  fallbackDataDir = join(root, 'b');
  await execFileAsync(
    join(active.binDir, 'pg_basebackup'),
    ['-D', fallbackDataDir, '-d', active.connectionString(), '-X', 'stream', '--checkpoint=fast'],
    { ...(owner ?? {}), cwd: root },
  );
  const fallbackPort = await freePort();
  await startStandby({
    dataDir: fallbackDataDir,
    port: fallbackPort,
    listenAddresses: '127.0.0.1',
    socketDir,
    primary: { host: '127.0.0.1', port: active.port },
    timeoutSeconds: 120,
  });
  await stopServer({ dataDir: fallbackDataDir });
  agentPort = await freePort();
  configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state')}
agentToken: agent-token-0123456789
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${fallbackPort}, dataDir: ${fallbackDataDir}, priority: 50, agent: { port: ${agentPort} } }
`,
  );
});

afterAll(async () => {
  up?.kill('SIGKILL');
  await closePools();
  await stopServer({ dataDir: fallbackDataDir }).catch(() => {});
  await active?.stop();
  await redis?.stop();
  await scratch?.remove();
});

describe('pullback up --instance', () => {
  it("starts the fallback's agent, which starts its PostgreSQL and serves /health and /replica", async () => {
    expect((await postmasterStatus(fallbackDataDir)).running).toBe(false);
    let output = '';
    up = spawn(process.execPath, [MAIN, 'up', '--config', configPath, '--instance', 'shop-b'], {
      env: { ...process.env, PULLBACK_PG_SOCKET_DIR: join(scratch.path, 'socket') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    up.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor('up --instance to start', async () => {
      if (up?.exitCode !== null) throw new Error(`up exited: ${output}`);
      return output.includes('running; stop with Ctrl-C') ? true : undefined;
    });
    expect(output).toContain(`agent of shop-b at http://127.0.0.1:${agentPort}`);
    const health = await waitFor('/health to answer 200', async () => {
      const response = await fetch(`http://127.0.0.1:${agentPort}/health`).catch(() => undefined);
      return response?.status === 200 ? response.json() : undefined;
    });
    expect(health).toMatchObject({ instance: 'shop-b', role: 'fallback', epoch: null });
    expect((await postmasterStatus(fallbackDataDir)).running).toBe(true);
    await waitFor('/replica to answer 200 (streaming from shop-a)', async () =>
      (await fetch(`http://127.0.0.1:${agentPort}/replica`)).status === 200 ? true : undefined,
    );
    expect((await fetch(`http://127.0.0.1:${agentPort}/primary`)).status).toBe(503);

    // The agent's /metrics: its process's own and its jobs', parsed whole; the registry's view is the pull side's.
    expect(output).toContain(`(/primary, /replica, /health, /metrics)`);
    const metrics = await scrape(`http://127.0.0.1:${agentPort}/metrics`);
    expect(await promtoolProblems(metrics.text)).toBe('');
    expect(metrics.value('pullback_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(metrics.value('pullback_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metrics.text).toContain('# TYPE pullback_import_duration_seconds histogram');
    expect(metrics.text).toContain('# TYPE pullback_job_failures_total counter');
    expect(metrics.names.has('pullback_fallback_state')).toBe(false);
    expect((await fetch(`http://127.0.0.1:${agentPort}/metrics`, { method: 'POST' })).status).toBe(405);

    up.kill('SIGTERM');
    const [code] = await once(up, 'exit');
    expect(code).toBe(0);
    expect(output).toContain('pullback up: stopped');
  });

  it('refuses --instance with --roles, in one line', async () => {
    const result = await runCli(['up', '--config', configPath, '--instance', 'shop-b', '--roles', 'export']);
    expect(result.code).not.toBe(0);
    expect(result.errorLines[0]).toMatch(/--instance.*cannot be used with.*--roles/);
  });

  it('says which instance has no agent, in one line', async () => {
    const result = await runCli(['up', '--config', configPath, '--instance', 'shop-a']);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([
      'pullback: instance shop-a has no agent in the config; HINT: add agent: { port: PORT } to it',
    ]);
  });
});
