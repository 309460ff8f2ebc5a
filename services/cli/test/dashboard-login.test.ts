import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { openPipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, startCli } from './cli-process.js';
import { runCli } from './run-cli.js';

/*
 * The dashboard's login and the refusals of its takeover routes, over HTTP
 * (docs/observability.md "Takeover from the page"). The successful activation from the
 * page, in a browser, is in dashboard-takeover.test.ts.
 */

const TOKEN = 'dashboard-login-token-5f1e9c';
const FORM = 'application/x-www-form-urlencoded';

let redis: RedisServer;
let scratch: { path: string; remove(): Promise<void> };
/** With dashboardToken. */
let configPath: string;
/** The same, without it. */
let readOnlyPath: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-dash-login')]);
  // A files component, and a postgres one whose fallback has no agent: both refuse an action.
  const yaml = `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')}, keyFile: ${join(scratch.path, 'archive.key')} }
components:
  docs:
    recipe: files
    path: ${scratch.path}
    outbox: ${join(scratch.path, 'outbox-docs')}
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox-shop')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${await freePort()}, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${await freePort()}, dataDir: /srv/b, priority: 50 }
`;
  readOnlyPath = join(scratch.path, 'read-only.yaml');
  await writeFile(readOnlyPath, yaml);
  configPath = join(scratch.path, 'pullback.yaml');
  await writeFile(configPath, `${yaml}dashboardToken: ${TOKEN}\n`);
  const pipeline = openPipeline({ redis: redis.url });
  await pipeline.register(parseConfig(yaml, readOnlyPath));
  await pipeline.close();
  expect((await runCli(['archive', 'init', '--config', configPath])).stderr).toBe('');
}, 120_000);

afterAll(async () => {
  for (const process of running) await process.stop('SIGKILL');
  await redis?.stop();
  await scratch?.remove();
});

async function startDashboard(path: string): Promise<{ url: string; process: CliProcess }> {
  const process = startCli(['dashboard', '--config', path, '--port', String(await freePort())]);
  running.push(process);
  const [, url] = await process.waitForOutput(/^dashboard on (\S+) /m);
  return { url: url!, process };
}

/** Every answer's body, to check that none shows the token. */
const bodies: string[] = [];

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const answer = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams(form).toString(),
    headers: { 'content-type': FORM, ...headers },
    redirect: 'manual',
  });
  const body = await answer.text();
  bodies.push(body);
  return { status: answer.status, body, headers: answer.headers };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<string> {
  const answer = await fetch(url, { headers });
  expect(answer.status).toBe(200);
  const body = await answer.text();
  bodies.push(body);
  return body;
}

describe('the dashboard takeover login over HTTP', () => {
  it('without dashboardToken: the actions and the login answer 403 in one line, and the page has no login form', async () => {
    const { url } = await startDashboard(readOnlyPath);
    for (const path of ['login', 'actions/activate', 'actions/switchover']) {
      const refused = await post(`${url}${path}`, { token: TOKEN, instance: 'shop-b', component: 'shop' });
      expect(refused.status).toBe(403);
      expect(refused.body).toBe('takeover from the page is off: set dashboardToken in the config\n');
    }
    const page = await get(url);
    expect(page).toContain('<section class="component" data-component="shop">');
    expect(page).not.toContain('<form');
  });

  it('logs in by a form into an HttpOnly, SameSite=Strict session; refuses without it (401), from another site (403), a wrong token (401, "wrong token"); shows an action\'s refusal once; Bearer for scripts', {
    timeout: 120_000,
  }, async () => {
    const { url, process } = await startDashboard(configPath);
    const origin = url.replace(/\/$/, '');
    const own = { origin };

    // Logged out: a login form posting to /login (the token in the body, never in a URL), no action buttons.
    const loggedOut = await get(url);
    expect(loggedOut).toContain(
      '<form class="login" method="post" action="login"><label>token <input type="password" name="token"',
    );
    expect(loggedOut).not.toContain('class="activate"');
    const getLogin = await fetch(`${url}login`);
    expect(getLogin.status).toBe(405);
    expect(getLogin.headers.get('allow')).toBe('POST');
    expect(getLogin.headers.get('content-security-policy')).toContain("form-action 'self'");

    // No login: 401. Another site's page, even with the right token: 403.
    const anonymous = await post(`${url}actions/activate`, { instance: 'shop-b' }, own);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toBe(
      'log in first: POST /login with the token, or send Authorization: Bearer TOKEN\n',
    );
    const foreign = await post(
      `${url}actions/activate`,
      { instance: 'shop-b' },
      { origin: 'http://attacker.example', authorization: `Bearer ${TOKEN}` },
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body).toBe('refused: this request comes from another site than the dashboard\n');
    const foreignLogin = await post(`${url}login`, { token: TOKEN }, { origin: 'http://attacker.example' });
    expect(foreignLogin.status).toBe(403);
    expect(foreignLogin.headers.get('set-cookie')).toBeNull();

    // A wrong token: 401, the page says so, no cookie.
    const wrong = await post(`${url}login`, { token: 'not-the-token-at-all' }, own);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('<span class="alert" role="alert">wrong token</span>');
    expect(wrong.headers.get('set-cookie')).toBeNull();

    // The right one: a random session id in an HttpOnly, SameSite=Strict cookie for 12 h, back to the page.
    const login = await post(`${url}login`, { token: TOKEN }, own);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('./');
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(
      /^pullback_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/,
    );
    const session = { ...own, cookie: setCookie.split(';')[0]! };
    const loggedIn = await get(url, session);
    expect(loggedIn).toContain('<form class="logout" method="post" action="logout">');
    // Buttons: shop-b's row (a fallback), and shop's switchover; none for the files component.
    expect(loggedIn).toMatch(
      /<tr data-instance="shop-b"[^>]*>.*<form class="activate" method="post" action="actions\/activate"[^>]*><input type="hidden" name="instance" value="shop-b">/,
    );
    expect(loggedIn).toContain('<input type="hidden" name="component" value="shop">');
    expect(loggedIn).not.toContain('value="docs"');
    expect(await get(`${url}panel`, session)).toContain('action="actions/activate"');

    // An action refused by import --activate's own check: back to the page, which shows the refusal once.
    const refused = await post(`${url}actions/activate`, { instance: 'shop-b', reason: 'test' }, session);
    expect(refused.status).toBe(303);
    expect(refused.headers.get('location')).toBe('../');
    const shown = await get(url, session);
    expect(shown).toContain(
      `<section id="outcome" class="alert" role="status" data-ok="false"><pre>cannot activate shop-b: it has no agent in ${configPath}; HINT: add agent: { port: PORT } to it and run its agent next to it</pre></section>`,
    );
    expect(await get(url, session)).not.toContain('id="outcome"');

    // A script: Bearer, the answer as text; switchover's and import --activate's refusals, one line each.
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const files = await post(`${url}actions/switchover`, { component: 'docs' }, bearer);
    expect(files).toMatchObject({
      status: 409,
      body: 'cannot switch docs over: it is a files component, with no active\n',
    });
    const unknown = await post(`${url}actions/activate`, { instance: 'shop-x' }, bearer);
    expect(unknown).toMatchObject({ status: 409, body: `no instance shop-x in ${configPath}\n` });
    const noField = await post(`${url}actions/switchover`, { to: 'shop-b' }, bearer);
    expect(noField).toMatchObject({ status: 400, body: 'the form has no component\n' });
    const wrongBearer = await post(
      `${url}actions/activate`,
      { instance: 'shop-b' },
      {
        authorization: 'Bearer not-the-token-at-all',
      },
    );
    expect(wrongBearer.status).toBe(401);

    // Logged out: the session is gone.
    const logout = await post(`${url}logout`, {}, session);
    expect(logout.status).toBe(303);
    expect(logout.headers.get('set-cookie')).toMatch(
      /^pullback_session=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/,
    );
    expect((await post(`${url}actions/activate`, { instance: 'shop-b' }, session)).status).toBe(401);

    // The token is in no answer and no line the dashboard wrote.
    expect(bodies.filter((body) => body.includes(TOKEN))).toEqual([]);
    expect(process.output()).not.toContain(TOKEN);
  });

  it('dashboardTokenFile: its first line is the token; a missing file or a short token is refused in one line', {
    timeout: 120_000,
  }, async () => {
    const yaml = (await readFile(readOnlyPath, 'utf8')).trimEnd();
    const tokenFile = join(scratch.path, 'dashboard.token');
    await writeFile(tokenFile, `${TOKEN}\nignored second line\n`);
    const withFile = join(scratch.path, 'token-file.yaml');
    await writeFile(withFile, `${yaml}\ndashboardTokenFile: ${tokenFile}\n`);
    const { url, process } = await startDashboard(withFile);
    const refused = await post(
      `${url}actions/switchover`,
      { component: 'docs' },
      {
        authorization: `Bearer ${TOKEN}`,
      },
    );
    expect(refused).toMatchObject({
      status: 409,
      body: 'cannot switch docs over: it is a files component, with no active\n',
    });
    expect(process.output()).not.toContain(TOKEN);

    const missing = join(scratch.path, 'missing-token.yaml');
    await writeFile(missing, `${yaml}\ndashboardTokenFile: ${join(scratch.path, 'nope.token')}\n`);
    const noFile = await runCli(['dashboard', '--config', missing, '--port', String(await freePort())]);
    expect(noFile.code).toBe(1);
    expect(noFile.errorLines).toEqual([
      `pullback: cannot read dashboardTokenFile ${join(scratch.path, 'nope.token')}: ENOENT`,
    ]);
    const shortFile = join(scratch.path, 'short.token');
    await writeFile(shortFile, 'short-secret\n');
    const short = join(scratch.path, 'short-token.yaml');
    await writeFile(short, `${yaml}\ndashboardTokenFile: ${shortFile}\n`);
    const tooShort = await runCli(['dashboard', '--config', short, '--port', String(await freePort())]);
    expect(tooShort.code).toBe(1);
    expect(tooShort.errorLines).toEqual([
      `pullback: dashboardTokenFile ${shortFile} holds no token of at least 16 characters`,
    ]);
    expect(tooShort.stderr + tooShort.stdout).not.toContain('short-secret');
  });

  it('after 5 wrong tokens within a minute, refuses even the right one with 429 until the minute is over', async () => {
    const { url } = await startDashboard(configPath);
    const own = { origin: url.replace(/\/$/, '') };
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await post(`${url}login`, { token: `wrong-token-number-${attempt}` }, own)).status).toBe(401);
    }
    const braked = await post(`${url}login`, { token: TOKEN }, own);
    expect(braked.status).toBe(429);
    expect(braked.body).toMatch(/^too many wrong tokens from 127\.0\.0\.1; try again in \d+ s\n$/);
    expect(Number(braked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(braked.headers.get('set-cookie')).toBeNull();
  });
});
