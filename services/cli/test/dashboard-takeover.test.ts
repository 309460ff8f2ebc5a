import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, type RedisServer, startRedis } from '@pullback/harness';
import { query } from '@pullback/recipe-postgres';
import type { Locator, Page } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
 * login's refusals over HTTP are in dashboard-login.test.ts. Then a switchover from the
 * page.
 */

const TOKEN = 'takeover-token-7d3a91c0e2';

let redis: RedisServer;
/** Closes what the running test opened, in reverse order, even when its setup failed half-way. */
let closeOpened: (() => Promise<void>) | undefined;

beforeEach(async () => {
  redis = await startRedis();
}, 120_000);

afterEach(async () => {
  await closeOpened?.();
  closeOpened = undefined;
  await redis?.stop();
}, 120_000);

/** An activation world (activation-world.ts), its dashboard with the login on, and chromium on the page. */
interface Takeover {
  readonly world: ActivationWorld;
  readonly dashboard: CliProcess;
  readonly url: string;
  readonly page: Page;
  /** Every URL the browser asked for. */
  readonly requested: string[];
}

async function openTakeover(
  label: string,
  ready: (world: ActivationWorld) => Promise<void>,
): Promise<Takeover> {
  const world = await activationWorld(redis, label);
  const closers: (() => Promise<unknown>)[] = [() => world.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {});
  };
  closeOpened = close;
  // The dashboard reads the archive's snapshot list, so it needs one, and the login token.
  const config = join(world.root, 'dashboard.yaml');
  await writeFile(config, `${world.yamlWith({ cPriority: 40 })}dashboardToken: ${TOKEN}\n`);
  const keyFile = join(world.root, 'archive.key');
  const init = await runCli(['archive', 'init', '--config', config, '--key-file', keyFile]);
  expect(init.stderr).toBe('');
  await ready(world);
  const port = await freePort();
  const dashboard = startCli([
    'dashboard',
    '--config',
    config,
    '--key-file',
    keyFile,
    '--port',
    String(port),
    '--interval',
    '1',
  ]);
  closers.push(() => dashboard.stop('SIGKILL'));
  const [, url] = await dashboard.waitForOutput(
    /^(?:\{.*"msg":")?dashboard on (http:\/\/127\.0\.0\.1:\d+\/) /m,
  );
  const browser = await launchChromium(world.root);
  closers.push(() => browser.close());
  const page = await browser.newPage();
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  await page.goto(url!);
  return { world, dashboard, url: url!, page, requested };
}

/** Logs in with the page's form; `first` is tried before the token when given. */
async function logIn(page: Page, first?: string): Promise<void> {
  const form = page.locator('form.login');
  if (first !== undefined) {
    await form.locator('input[name="token"]').fill(first);
    await form.locator('button').click();
    await page.locator('form.login [role="alert"]', { hasText: 'wrong token' }).waitFor();
  }
  await page.locator('form.login input[name="token"]').fill(TOKEN);
  await page.locator('form.login button').click();
  await page.locator('form.logout').waitFor();
}

/** Sends `form` from the page, accepting its question; resolves with the question and the outcome shown. */
async function submit(
  page: Page,
  form: Locator,
): Promise<{ asked: string[]; ok: string | null; text: string }> {
  const asked: string[] = [];
  page.once('dialog', (dialog) => {
    asked.push(dialog.message());
    void dialog.accept();
  });
  await form.locator('button').click();
  const outcome = page.locator('#outcome');
  await outcome.waitFor({ timeout: 240_000 });
  return { asked, ok: await outcome.getAttribute('data-ok'), text: (await outcome.textContent()) ?? '' };
}

/** The token went in POST bodies only: in no URL, not in the page, not in a line of the dashboard. */
async function expectTokenNowhere(takeover: Takeover): Promise<void> {
  expect(takeover.requested.length).toBeGreaterThan(3);
  expect(takeover.requested.filter((address) => address.includes(TOKEN))).toEqual([]);
  expect(await takeover.page.content()).not.toContain(TOKEN);
  expect(takeover.dashboard.output()).not.toContain(TOKEN);
}

describe('takeover from the dashboard in a real browser', () => {
  it("after the active's host dies, an operator logs in and activates shop-b from its row: it takes writes, and the history shows who asked; never the token in a URL, the page or a line", {
    timeout: 420_000,
  }, async () => {
    let lease: { stop(): void } | undefined;
    const takeover = await openTakeover('dashboard-activate', async (world) => {
      await writeAndSettle(world, 'before the takeover');
      await world.reportFallbacksHealthy();
      lease = holdLease(world);
      await waitLong('the active lease held', async () =>
        (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
      );
    });
    const { world, page, url } = takeover;
    const { b } = world.members;

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
    await killActive(world, lease!);

    // A wrong token first, then the right one; then shop-b's button, with a reason.
    await logIn(page, 'not-the-token-at-all');
    const activate = row('shop-b').locator('form.activate');
    await activate.locator('input[name="reason"]').fill('host of shop-a died');
    const outcome = await submit(page, activate);
    expect(outcome.asked).toEqual(['activate shop-b as the active of shop?']);
    expect(outcome.ok).toBe('true');
    expect(outcome.text).toMatch(
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
    const status = await runCli(['status', '--config', world.configPath]);
    expect(status.stdout).toMatch(
      /epoch 2: shop-a -> shop-b, by hand: host of shop-a died, by dashboard: 127\.0\.0\.1/,
    );

    await mkdir(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: join(TEST_OUTPUT, 'dashboard-takeover.png'), fullPage: true });
    await expectTokenNowhere(takeover);
    expect(await takeover.dashboard.stop('SIGINT')).toBe(0);
  });

  it('a switchover from the page, to the fallback chosen in its list: shop-c takes writes, shop-a follows it, the history shows who asked', {
    timeout: 420_000,
  }, async () => {
    let lease: { stop(): void } | undefined;
    const takeover = await openTakeover('dashboard-switchover', async (world) => {
      await writeAndSettle(world, 'before the switchover');
      await world.reportFallbacksHealthy();
      lease = holdLease(world);
      await waitLong('the active lease held', async () =>
        (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
      );
    });
    const { world, page } = takeover;
    const { a, b, c } = world.members;
    await logIn(page);
    const form = page.locator('section[data-component="shop"] form.switchover');
    await form.locator('select[name="to"]').selectOption('shop-c');
    const outcome = await submit(page, form);
    lease?.stop();
    expect(outcome.asked).toEqual(['switch shop over?']);
    expect(outcome.ok).toBe('true');
    const lines = outcome.text.split('\n');
    expect(lines[0]).toBe('switching shop over from shop-a to shop-c');
    expect(lines.slice(-2)).toEqual([
      'switched shop over from shop-a to shop-c at epoch 2; lost: 0 bytes',
      'shop-a follows shop-c as a fallback',
    ]);
    expect(await Promise.all([a.port, b.port, c.port].map(isWritable))).toEqual([false, false, true]);
    expect(await world.pipeline.registry.activations('shop')).toEqual([
      expect.objectContaining({
        epoch: 2,
        from: 'shop-a',
        to: 'shop-c',
        reason: 'switchover',
        by: 'dashboard: 127.0.0.1',
        lostBytes: 0,
      }),
    ]);
    await page
      .locator('ul.activations li', { hasText: /shop-a -> shop-c, switchover, by dashboard: 127\.0\.0\.1/ })
      .waitFor({ timeout: 60_000 });
    await expectTokenNowhere(takeover);
  });
});
