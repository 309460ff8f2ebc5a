import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '@pullback/harness';
import { stopServer } from '@pullback/recipe-postgres';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, TEST_OUTPUT as OUTPUT } from './chromium.js';
import { type CliProcess, startCli } from './cli-process.js';
import { type PipelineWorld, startPipelineWorld } from './pipeline-world.js';

let world: PipelineWorld;
let dashboard: CliProcess | undefined;
let browser: BrowserContext | undefined;

beforeAll(async () => {
  world = await startPipelineWorld('dashboard');
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await dashboard?.stop('SIGKILL');
  await world?.close();
}, 120_000);

describe('pullback dashboard in a real browser', () => {
  it('shows the component, the active, both fallbacks with their lag and the new snapshot; then a stopped fallback turns unhealthy with its reason, without a reload', {
    timeout: 420_000,
  }, async () => {
    // A cycle: up runs every worker; an export makes a snapshot that both fallbacks import.
    await world.startUp();
    const status = await world.cycle();
    const snapshotId = status.components[0]?.lastSnapshot?.id;
    expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);

    const port = await freePort();
    dashboard = startCli(
      ['dashboard', '--config', world.configPath, '--port', String(port), '--interval', '1'],
      world.s3.env,
    );
    const [, url] = await dashboard.waitForOutput(
      /^(?:\{.*"msg":")?dashboard on (http:\/\/127\.0\.0\.1:\d+\/) /m,
    );
    expect(url).toBe(`http://127.0.0.1:${port}/`);

    browser = await launchChromium(world.root);
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
    await stopServer({ dataDir: world.fallbackDirs[1] });
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
