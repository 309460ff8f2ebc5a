import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  type S3Server,
  scratchDir,
  startPostgres,
  startRedis,
  startS3,
  waitFor,
} from '@pullback/harness';
import { type FullStatus, openPipeline, type Pipeline } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, TEST_OUTPUT as OUTPUT } from './chromium.js';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

let redis: RedisServer;
let s3: S3Server;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let pipeline: Pipeline;
let up: CliProcess | undefined;
let dashboard: CliProcess | undefined;
let browser: BrowserContext | undefined;
let configPath: string;
const fallbackDirs: string[] = [];

const settled = (status: FullStatus) => {
  const shop = status.components.find((component) => component.name === 'shop');
  const fallbacks = shop?.instances.filter((instance) => instance.role === 'fallback') ?? [];
  const busy = Object.values(status.queues).some((queue) => queue.waiting + queue.active > 0);
  return !busy && fallbacks.length === 2 && fallbacks.every((f) => f.atLastSnapshot && f.state?.healthy);
};

beforeAll(async () => {
  [redis, s3, active, scratch] = await Promise.all([
    startRedis(),
    startS3({ buckets: ['dashboard'] }),
    startPostgres(),
    scratchDir('cli-dashboard'),
  ]);
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  const root = scratch.path;
  await chmod(root, 0o755);
  const socketDir = join(root, 'socket');
  await mkdir(socketDir);
  const owner = await postgresOwner();
  if (owner) await chown(socketDir, owner.uid, owner.gid);
  const keyFile = join(root, 'archive.key');
  const init = await runCli(
    ['archive', 'init', '--archive', 's3://dashboard/history', '--key-file', keyFile],
    {
      env: s3.env,
    },
  );
  expect(init.stderr).toBe('');
  const [b, c] = [join(root, 'b'), join(root, 'c')];
  fallbackDirs.push(b, c);
  configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: ${redis.url}
archive: { url: s3://dashboard/history, keyFile: ${keyFile} }
stateDir: ${join(root, 'state')}
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: ${b}, priority: 50 }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: ${c}, priority: 40 }
`,
  );
  pipeline = openPipeline({ redis: redis.url });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await dashboard?.stop('SIGKILL');
  await up?.stop('SIGKILL');
  await pipeline?.close();
  for (const dataDir of fallbackDirs) await stopServer({ dataDir }).catch(() => {});
  await active?.stop();
  await Promise.all([redis?.stop(), s3?.stop()]);
  await scratch?.remove();
}, 120_000);

describe('pullback dashboard in a real browser', () => {
  it('shows the component, the active, both fallbacks with their lag and the new snapshot; then a stopped fallback turns unhealthy with its reason, without a reload', {
    timeout: 420_000,
  }, async () => {
    // A cycle: up runs every worker; an export makes a snapshot that both fallbacks import.
    up = startCli(['up', '--config', configPath], {
      ...s3.env,
      PULLBACK_PG_SOCKET_DIR: join(scratch.path, 'socket'),
    });
    await up.waitForOutput(/running; stop with Ctrl-C/);
    const queued = await runCli(['export', 'shop', '--now', '--config', configPath]);
    expect(queued.stderr).toBe('');
    const status = await waitFor(
      'both fallbacks healthy at the new snapshot',
      async () => {
        const current = await pipeline.readStatus();
        return settled(current) ? current : undefined;
      },
      240_000,
      500,
    );
    const snapshotId = status.components[0]?.lastSnapshot?.id;
    expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);

    const port = await freePort();
    dashboard = startCli(
      ['dashboard', '--config', configPath, '--port', String(port), '--interval', '1'],
      s3.env,
    );
    const [, url] = await dashboard.waitForOutput(/^dashboard on (http:\/\/127\.0\.0\.1:\d+\/) /m);
    expect(url).toBe(`http://127.0.0.1:${port}/`);

    browser = await launchChromium(scratch.path);
    const page = await browser.newPage();
    await page.goto(url!);
    // A mark that a reload would wipe: the page must change under it.
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });

    const shop = page.locator('section[data-component="shop"]');
    await expect(shop.locator('h2').textContent()).resolves.toBe('shop');
    const row = (name: string) => shop.locator(`tr[data-instance="${name}"]`);
    expect(await row('shop-a').getAttribute('data-state')).toBe('active');
    expect(await row('shop-a').textContent()).toContain('active');
    for (const name of ['shop-b', 'shop-c']) {
      const cells = await row(name).locator('td').allTextContents();
      // instance, role, state, snapshot, LSN, WAL from, behind, why, agent
      expect(cells[1]).toBe('fallback');
      expect(cells[2]).toBe('healthy');
      expect(cells[3]).toBe(`${snapshotId!.slice(0, 12)} (last)`);
      expect(cells[6]).toMatch(/^(\d+(\.\d)? (B|KiB|MiB|GiB), )?\d+ (s|min|h \d+ min|d)$/);
      expect(cells[7]).toBe('');
    }
    const snapshotRow = shop.locator(`tr[data-snapshot="${snapshotId}"]`);
    const snapshotCells = await snapshotRow.locator('td').allTextContents();
    expect(snapshotCells[1]).toBe(snapshotId!.slice(0, 12));
    expect(snapshotCells[3]).toMatch(/^\d+(\.\d)? (KiB|MiB|GiB)$/);
    expect(snapshotCells[5]).toMatch(/^(not yet|yes, .+)$/);
    // The WAL the receiver archived since the snapshot: the archive is listed again within a minute.
    await shop
      .locator('p.restorable', {
        hasText:
          /^restorable to any moment from \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/,
      })
      .waitFor({ timeout: 120_000 });
    // The cycle's jobs, from BullMQ's lists of ended jobs (an `export --now` job is removed once done).
    const jobs = await shop.locator('table.recent-jobs tbody tr').allTextContents();
    for (const queue of ['pull', 'import.shop-b', 'import.shop-c']) {
      expect(
        jobs.some((text) => text.includes(`${queue} `) && text.includes('done')),
        `${queue} in ${jobs}`,
      ).toBe(true);
    }

    // shop-c's server stops; its import worker reports it, and the page shows it without a reload.
    await stopServer({ dataDir: fallbackDirs[1]! });
    const down = row('shop-c').and(page.locator('tr.bad'));
    await down.waitFor({ timeout: 120_000 });
    const downCells = await down.locator('td').allTextContents();
    expect(downCells[2]).toMatch(/^(down|unhealthy)$/);
    expect(downCells[7]).toMatch(/^(not running|not reachable: .+)$/);
    expect(await row('shop-b').getAttribute('data-state')).toBe('healthy');
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );

    await mkdir(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });

    expect(await dashboard.stop('SIGINT')).toBe(0);
  });
});
