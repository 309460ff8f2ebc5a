import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, type RedisServer, startRedis } from '@pullback/harness';
import { query } from '@pullback/recipe-postgres';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ActivationWorld,
  activationWorld,
  holdLease,
  isWritable,
  killActive,
  waitLong,
  writeAndSettle,
} from './activation-world.js';
import { launchChromium, TEST_OUTPUT } from './chromium.js';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

/*
 * Takeover from the page (docs/observability.md): shop-a's host dies, and an operator
 * logs in to the dashboard in a real browser and activates shop-b from its row. The
 * login's refusals over HTTP are in dashboard-login.test.ts.
 */

const TOKEN = 'takeover-token-7d3a91c0e2';

let redis: RedisServer;
let world: ActivationWorld;
let dashboard: CliProcess | undefined;
let browser: BrowserContext | undefined;
let dashboardConfig: string;
let keyFile: string;

beforeAll(async () => {
  redis = await startRedis();
  world = await activationWorld(redis, 'dashboard-takeover');
  // The dashboard reads the archive's snapshot list, so it needs one, and the login token.
  dashboardConfig = join(world.root, 'dashboard.yaml');
  await writeFile(dashboardConfig, `${world.yamlWith({ cPriority: 40 })}dashboardToken: ${TOKEN}\n`);
  keyFile = join(world.root, 'archive.key');
  const init = await runCli(['archive', 'init', '--config', dashboardConfig, '--key-file', keyFile]);
  expect(init.stderr).toBe('');
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await dashboard?.stop('SIGKILL');
  await world?.close();
  await redis?.stop();
}, 120_000);

describe('takeover from the dashboard in a real browser', () => {
  it("after the active's host dies, an operator logs in and activates shop-b from its row: it takes writes, and the history shows who asked; never the token in a URL, the page or a line", {
    timeout: 420_000,
  }, async () => {
    const { b } = world.members;
    await writeAndSettle(world, 'before the takeover');
    await world.reportHealthy('shop-b');
    await world.reportHealthy('shop-c');
    const lease = holdLease(world);
    await waitLong('the active lease held', async () =>
      (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
    );

    const port = await freePort();
    dashboard = startCli([
      'dashboard',
      '--config',
      dashboardConfig,
      '--key-file',
      keyFile,
      '--port',
      String(port),
      '--interval',
      '1',
    ]);
    const [, url] = await dashboard.waitForOutput(/^dashboard on (http:\/\/127\.0\.0\.1:\d+\/) /m);
    browser = await launchChromium(world.root);
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(url!);

    // Not logged in: no buttons, and the browser's own POST is refused.
    const shop = page.locator('section[data-component="shop"]');
    const row = (name: string) => shop.locator(`tr[data-instance="${name}"]`);
    await row('shop-b').waitFor();
    expect(await page.locator('form.activate').count()).toBe(0);
    const anonymous = await page.evaluate(async () => {
      const answer = await fetch('actions/activate', {
        method: 'POST',
        body: new URLSearchParams({ instance: 'shop-b' }),
      });
      return { status: answer.status, text: await answer.text() };
    });
    expect(anonymous).toEqual({
      status: 401,
      text: 'log in first: POST /login with the token, or send Authorization: Bearer TOKEN\n',
    });
    // A page of another site, even holding the token, is refused by its Origin.
    const foreign = await fetch(`${url}actions/activate`, {
      method: 'POST',
      body: new URLSearchParams({ instance: 'shop-b' }),
      headers: { origin: 'http://attacker.example', authorization: `Bearer ${TOKEN}` },
    });
    expect(foreign.status).toBe(403);

    // shop-a's host dies: its server crashes, its agent goes with it, its lease lapses.
    await world.agents.get('shop-a')?.close();
    await killActive(world, lease);

    // A wrong token first, then the right one.
    await page.locator('form.login input[name="token"]').fill('not-the-token-at-all');
    await page.locator('form.login button').click();
    await page.locator('form.login [role="alert"]', { hasText: 'wrong token' }).waitFor();
    await page.locator('form.login input[name="token"]').fill(TOKEN);
    await page.locator('form.login button').click();
    await page.locator('form.logout').waitFor();

    // shop-b's button, with a reason; the page asks first.
    const activate = row('shop-b').locator('form.activate');
    await activate.locator('input[name="reason"]').fill('host of shop-a died');
    const asked: string[] = [];
    page.once('dialog', (dialog) => {
      asked.push(dialog.message());
      void dialog.accept();
    });
    await activate.locator('button').click();
    const outcome = page.locator('#outcome');
    await outcome.waitFor({ timeout: 240_000 });
    expect(asked).toEqual(['activate shop-b as the active of shop?']);
    expect(await outcome.getAttribute('data-ok')).toBe('true');
    expect(await outcome.textContent()).toMatch(
      /^activated shop-b of shop at epoch 2 \(was shop-a\); lost: (unknown|\d+ bytes)/,
    );

    // shop-b is the writable active, with every row.
    expect(await isWritable(b.port)).toBe(true);
    expect(await query({ host: '127.0.0.1', port: b.port }, 'select status from marker')).toBe(
      'before the takeover',
    );
    const component = await world.pipeline.registry.component('shop');
    expect({ epoch: component?.epoch, active: component?.active }).toEqual({ epoch: 2, active: 'shop-b' });
    expect(await world.pipeline.registry.activations('shop')).toEqual([
      expect.objectContaining({
        epoch: 2,
        from: 'shop-a',
        to: 'shop-b',
        reason: 'by hand: host of shop-a died',
        by: 'dashboard: 127.0.0.1',
      }),
    ]);

    // The page's history and `pullback status` say who asked.
    await shop
      .locator('ul.activations li', {
        hasText: /shop-a -> shop-b, by hand: host of shop-a died, by dashboard: 127\.0\.0\.1/,
      })
      .waitFor({ timeout: 60_000 });
    expect(await row('shop-b').getAttribute('data-state')).toBe('active');
    const status = await runCli(['status', '--config', dashboardConfig]);
    expect(status.stdout).toMatch(
      /epoch 2: shop-a -> shop-b, by hand: host of shop-a died, by dashboard: 127\.0\.0\.1/,
    );

    await mkdir(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: join(TEST_OUTPUT, 'dashboard-takeover.png'), fullPage: true });

    // The token went in a POST body only: in no URL, not in the page, not in a line of the dashboard or status.
    expect(requested.length).toBeGreaterThan(3);
    expect(requested.filter((address) => address.includes(TOKEN))).toEqual([]);
    expect(await page.content()).not.toContain(TOKEN);
    expect(dashboard.output()).not.toContain(TOKEN);
    expect(status.stdout + status.stderr).not.toContain(TOKEN);
    expect(await dashboard.stop('SIGINT')).toBe(0);
  });
});
