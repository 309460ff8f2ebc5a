import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { initArchive } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
} from '@pullback/harness';
import type { FullStatus } from '@pullback/pipeline';
import { query, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli } from './run-cli.js';

let redis: RedisServer;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;
let fallbackPort: number;
let up: ChildProcess | undefined;
let upOutput = '';
const auditDirs: string[] = [];

beforeAll(async () => {
  [redis, active, scratch] = await Promise.all([startRedis(), startPostgres(), scratchDir('cli-pipeline')]);
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  const root = scratch.path;
  await chmod(root, 0o755);
  const socketDir = join(root, 'socket');
  await mkdir(socketDir);
  const owner = await postgresOwner();
  if (owner) await chown(socketDir, owner.uid, owner.gid);
  await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') });
  fallbackPort = await freePort();
  configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
stateDir: ${join(root, 'state')}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${fallbackPort}, dataDir: ${join(root, 'b')}, priority: 50 }
`,
  );
});

afterAll(async () => {
  up?.kill('SIGKILL');
  for (const dataDir of [join(scratch.path, 'b'), ...auditDirs])
    await stopServer({ dataDir }).catch(() => {});
  await active?.stop();
  await redis?.stop();
  await scratch?.remove();
});

const cli = (args: string[]) => runCli([...args, '--config', configPath]);

async function statusJson(): Promise<FullStatus> {
  const result = await cli(['status', '--json']);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as FullStatus;
}

describe('status, export --now, up, backup and restore --start against real Redis and PostgreSQL', () => {
  it('status: one line when Redis cannot be reached', async () => {
    const port = await freePort();
    const path = join(scratch.path, 'no-redis.yaml');
    await writeFile(
      path,
      `redis: redis://127.0.0.1:${port}\narchive: { url: ${join(scratch.path, 'archive')} }\ncomponents: {}\n`,
    );
    const result = await runCli(['status', '--config', path]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toHaveLength(1);
    expect(result.errorLines[0]).toMatch(
      new RegExp(
        `^pullback: cannot reach redis at redis://127\\.0\\.0\\.1:${port}: .+; HINT: start redis-server`,
      ),
    );
  });

  it('status before anything is registered says how to start', async () => {
    const result = await cli(['status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^no components in the registry: start `pullback up`/);
  });

  it('up runs every worker; export --now makes a snapshot that the fallback runs as a hot standby; status shows it', {
    timeout: 150_000,
  }, async () => {
    up = spawn(process.execPath, [MAIN, 'up', '--config', configPath], {
      env: { ...process.env, PULLBACK_PG_SOCKET_DIR: join(scratch.path, 'socket') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout?.on('data', (chunk: Buffer) => {
      upOutput += chunk.toString();
    });
    up.stderr?.on('data', (chunk: Buffer) => {
      upOutput += chunk.toString();
    });
    for (let waited = 0; !upOutput.includes('running; stop with Ctrl-C'); waited += 100) {
      if (waited > 30_000 || up.exitCode !== null) throw new Error(`up did not start: ${upOutput}`);
      await sleep(100);
    }
    expect(upOutput).toContain(`redis ${redis.url}`);
    expect(upOutput).toMatch(/export worker +shop: shop-a/);
    expect(upOutput).toMatch(/import worker +shop: shop-b/);

    const queued = await cli(['export', 'shop', '--now']);
    expect(queued.stderr).toBe('');
    expect(queued.stdout).toMatch(/^export of shop queued: job export-now\.shop, epoch 1\n$/);
    const again = await cli(['export', 'shop', '--now']);
    // The first is still waiting or running (an export takes a second or more): it stands.
    expect(again.stdout).toMatch(/export-now\.shop/);

    const unknown = await cli(['export', 'nope', '--now']);
    expect(unknown.code).toBe(1);
    expect(unknown.errorLines[0]).toMatch(/^pullback: no component nope in .* \(it has: shop\)$/);

    let status: FullStatus | undefined;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(500)) {
      status = await statusJson();
      const shop = status.components.find((c) => c.name === 'shop');
      const b = shop?.instances.find((i) => i.name === 'shop-b');
      // Settled: the second --now may have made a second export when the first had finished.
      const busy = Object.values(status.queues).some((queue) => queue.waiting + queue.active > 0);
      if (b?.atLastSnapshot && b.state?.healthy && !busy) break;
    }
    const shop = status?.components.find((c) => c.name === 'shop');
    expect(shop).toMatchObject({ active: 'shop-a', epoch: 1, lastExport: { ok: true } });
    expect(shop?.instances.find((i) => i.name === 'shop-b')).toMatchObject({
      atLastSnapshot: true,
      state: { healthy: true, running: true },
    });
    expect(await query({ host: '127.0.0.1', port: fallbackPort }, 'select status from marker')).toBe('first');

    const text = await cli(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^shop \(postgres, schedule "0 \* \* \* \*"\) {2}active: shop-a, epoch 1$/m);
    expect(text.stdout).toMatch(/last export {4}ok, \d+ s ago/);
    expect(text.stdout).toMatch(/last snapshot {2}[0-9a-f]{12} /);
    expect(text.stdout).toMatch(/shop-b :\d+ +healthy +[0-9a-f]{12} \(last\) +[0-9A-F]+\/[0-9A-F]+/);
  });

  it('restore --start runs a snapshot read-only on a port, with the marker row of its time', {
    timeout: 90_000,
  }, async () => {
    await active.psql(`update marker set status = 'second'`);
    const target = join(scratch.path, 'audit');
    auditDirs.push(target);
    const port = await freePort();
    const result = await cli([
      'restore',
      'latest',
      '--component',
      'shop',
      '--target',
      target,
      '--start',
      '--port',
      String(port),
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`PostgreSQL runs read-only (a standby with no upstream) on port ${port}`);
    expect(result.stdout).toContain(`connect: psql -h 127.0.0.1 -p ${port} -U postgres`);
    expect(result.stdout).toMatch(/stop: +.*pg_ctl stop -D /);
    const audit = { host: '127.0.0.1', port };
    expect(await query(audit, 'select status from marker')).toBe('first');
    expect(await query(audit, 'select pg_is_in_recovery()')).toBe('t');
    await expect(query(audit, `insert into marker values ('audit')`)).rejects.toThrow(
      'read-only transaction',
    );
  });

  it('backup <component> makes a snapshot with no Redis and no workers', { timeout: 90_000 }, async () => {
    const result = await cli(['backup', 'shop']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^snapshot [0-9a-f]{12} of shop \(physical\): \d+ files, .+ newly stored, [\d.]+ s\n$/,
    );
  });

  it('up stops cleanly on SIGTERM and exits 0', { timeout: 60_000 }, async () => {
    expect(up).toBeDefined();
    const exited = once(up!, 'exit');
    up!.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(upOutput).toContain('pullback up: stopped');
  });
});
