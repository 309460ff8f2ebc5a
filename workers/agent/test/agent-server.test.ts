import { freePort, scratchDir } from '@pullback/harness';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AgentServer,
  EpochRecordStore,
  epochRecordPath,
  FailsafePromises,
  type InstanceView,
  startAgentServer,
} from '../src/index.js';

const TOKEN = 's3cret-agent-token';

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let store: EpochRecordStore;
let server: AgentServer;
let view: InstanceView | Error;
let promoted: number[];
let promoteFailure: Error | undefined;
let logged: string[];

beforeEach(async () => {
  scratch = await scratchDir('agent');
  store = new EpochRecordStore(epochRecordPath(scratch.path, 'shop-a'));
  view = { role: 'fallback', holdsPermission: false, serverRunning: true, streaming: true };
  promoted = [];
  promoteFailure = undefined;
  logged = [];
  server = await startAgentServer({
    instance: 'shop-a',
    port: await freePort(),
    agentToken: TOKEN,
    record: store,
    promises: new FailsafePromises(store, 3000),
    view: () => {
      if (view instanceof Error) throw view;
      return view;
    },
    promote: async (epoch) => {
      if (promoteFailure) throw promoteFailure;
      promoted.push(epoch);
    },
    log: (line) => logged.push(line),
  });
});
afterEach(async () => {
  await server.close();
  await scratch.remove();
});

async function get(path: string, method = 'GET'): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(`${server.url}${path}`, { method });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), text };
}

async function post(
  path: string,
  body: unknown,
  token: string | null = TOKEN,
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

describe('agent server: health endpoints', () => {
  it('binds 127.0.0.1 by default', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('/primary is 200 only on the active at the recorded epoch holding permission', async () => {
    await store.compareAndSet({ epoch: 4, active: 'shop-a' });
    view = { role: 'active', epoch: 4, holdsPermission: true, serverRunning: true, streaming: false };
    expect(await get('/primary')).toMatchObject({
      status: 200,
      body: { instance: 'shop-a', role: 'active', epoch: 4, state: 'writable' },
    });
    expect((await get('/primary', 'HEAD')).status).toBe(200);
    expect((await get('/primary', 'OPTIONS')).status).toBe(200);
    expect((await get('/replica')).status).toBe(503);
    expect((await get('/health')).status).toBe(200);

    view = { ...view, holdsPermission: false };
    expect(await get('/primary')).toMatchObject({ status: 503, body: { state: 'no-permission' } });
    view = { ...view, holdsPermission: true, epoch: 3 };
    expect(await get('/primary')).toMatchObject({ status: 503, body: { epoch: 4, state: 'no-permission' } });
    view = { ...view, epoch: 4, serverRunning: false };
    expect(await get('/primary')).toMatchObject({ status: 503, body: { state: 'stopped' } });
    expect((await get('/health')).status).toBe(503);

    // A newer epoch naming another instance: this one is no longer the active there.
    view = { ...view, serverRunning: true };
    await store.compareAndSet({ epoch: 5, active: 'shop-b' });
    expect(await get('/primary')).toMatchObject({ status: 503, body: { epoch: 5, state: 'no-permission' } });
  });

  it('/replica is 200 on a streaming fallback; /health on any running server', async () => {
    expect(await get('/replica')).toMatchObject({
      status: 200,
      body: { instance: 'shop-a', role: 'fallback', epoch: null, state: 'streaming' },
    });
    expect((await get('/primary')).status).toBe(503);
    expect((await get('/health')).status).toBe(200);
    view = { role: 'fallback', holdsPermission: false, serverRunning: true, streaming: false };
    expect(await get('/replica')).toMatchObject({ status: 503, body: { state: 'not-streaming' } });
    expect((await get('/health')).status).toBe(200);
    view = { role: 'none', holdsPermission: false, serverRunning: true, streaming: false };
    expect(await get('/health')).toMatchObject({ status: 200, body: { role: 'none', state: 'running' } });
    view = { role: 'none', holdsPermission: false, serverRunning: false, streaming: false };
    expect(await get('/health')).toMatchObject({ status: 503, body: { state: 'stopped' } });
  });

  it('answers 503 with state unknown when the view fails', async () => {
    view = new Error('boom');
    for (const path of ['/primary', '/replica', '/health']) {
      expect(await get(path)).toMatchObject({
        status: 503,
        body: { instance: 'shop-a', role: 'unknown', state: 'unknown' },
      });
    }
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    expect(await get('/nope')).toMatchObject({ status: 404, body: { error: 'no such endpoint: /nope' } });
    expect((await get('/primary', 'DELETE')).status).toBe(405);
    expect((await post('/health', {})).status).toBe(405);
    expect((await get('/failsafe')).status).toBe(405);
    expect((await get('/promote')).status).toBe(405);
  });
});

describe('agent server: epoch, failsafe and promote', () => {
  it('GET /epoch returns the record, null before there is one', async () => {
    expect(await get('/epoch')).toMatchObject({ status: 200, body: { record: null } });
    await store.compareAndSet({ epoch: 2, active: 'shop-b' });
    expect(await get('/epoch')).toMatchObject({
      status: 200,
      body: { record: { epoch: 2, active: 'shop-b' } },
    });
  });

  it('POSTs need the bearer token, and no answer or log line carries it', async () => {
    for (const path of ['/epoch', '/failsafe', '/promote']) {
      const missing = await post(path, { epoch: 1, active: 'shop-a' }, null);
      expect(missing).toMatchObject({
        status: 401,
        body: { error: `${path} needs the agent token (Authorization: Bearer)` },
      });
      expect((await post(path, { epoch: 1 }, `${TOKEN}x`)).status).toBe(401);
      expect((await post(path, { epoch: 1 }, TOKEN.slice(1))).status).toBe(401);
      expect((await post(path, { epoch: 1 }, '')).status).toBe(401);
    }
    const raw = await fetch(`${server.url}/epoch`, {
      method: 'POST',
      headers: { authorization: TOKEN },
      body: JSON.stringify({ epoch: 1, active: 'shop-a' }),
    });
    expect(raw.status).toBe(401);
    expect(await store.read()).toBeUndefined();

    const answers = [
      await post('/epoch', { epoch: 1, active: 'shop-a' }),
      await post('/epoch', { epoch: 0, active: 'shop-a' }),
      await post('/failsafe', { instance: 'shop-a', epoch: 1 }),
      await post('/promote', { epoch: 1 }),
      await post('/epoch', '{bad'),
    ];
    for (const answer of answers) expect(answer.text).not.toContain(TOKEN);
    expect(logged.join('\n')).not.toContain(TOKEN);
  });

  it('rejects bad JSON and wrong shapes with a 400 and one line; a huge body with 413', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/epoch', '{"epoch": 1,', /^request body is not JSON$/],
      ['/epoch', '', /^request body is not JSON$/],
      ['/epoch', { epoch: '1', active: 'shop-a' }, /^bad request body: epoch: /],
      ['/epoch', { epoch: 1.5, active: 'shop-a' }, /^bad request body: epoch: /],
      ['/epoch', { epoch: -1, active: 'shop-a' }, /^bad request body: epoch: /],
      ['/epoch', { epoch: 1, active: 'Shop A\nsecond line' }, /^bad request body: active: /],
      ['/epoch', { epoch: 1, active: 'shop-a', extra: true }, /^bad request body: /],
      ['/epoch', [1, 'shop-a'], /^bad request body: /],
      ['/failsafe', { epoch: 1 }, /^bad request body: instance: /],
      ['/promote', { epoch: null }, /^bad request body: epoch: /],
    ];
    for (const [path, body, message] of cases) {
      const answer = await post(path, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error).toMatch(message);
      expect(answer.text.trim()).not.toContain('\n');
    }
    expect(await post('/epoch', 'x'.repeat(100_000))).toMatchObject({
      status: 413,
      body: { error: 'request body larger than 16384 bytes' },
    });
    expect(await store.read()).toBeUndefined();
  });

  it('POST /epoch is the compare-and-set: 200 when recorded, 409 with the record when refused', async () => {
    expect(await post('/epoch', { epoch: 3, active: 'shop-b' })).toMatchObject({
      status: 200,
      body: { accepted: true, record: { epoch: 3, active: 'shop-b' }, previous: null },
    });
    expect(await post('/epoch', { epoch: 2, active: 'shop-a' })).toMatchObject({
      status: 409,
      body: {
        accepted: false,
        reason: 'epoch 2 is older than the recorded epoch 3 (shop-b active)',
        record: { epoch: 3, active: 'shop-b' },
      },
    });
    expect(logged).toContain('recorded epoch 3 (shop-b active)');
  });

  it('POST /failsafe grants a promise that makes POST /epoch refuse newer epochs', async () => {
    await post('/epoch', { epoch: 3, active: 'shop-b' });
    expect(await post('/failsafe', { instance: 'shop-b', epoch: 3 })).toMatchObject({
      status: 200,
      body: { granted: true, instance: 'shop-b', epoch: 3, forMs: 3000 },
    });
    const refused = await post('/epoch', { epoch: 4, active: 'shop-a' });
    expect(refused.status).toBe(409);
    expect(refused.body.reason).toMatch(
      /^a failsafe promise to shop-b at epoch 3 is live until .+ ms more\)$/,
    );
    // When the asker may try again: the promise lapses by itself (activation-plan.ts waits it out).
    expect(refused.body.retryAfterMs).toBeGreaterThan(0);
    expect(refused.body.retryAfterMs).toBeLessThanOrEqual(3000);
    // A refusal for a newer epoch recorded carries none: trying again would change nothing.
    const older = await post('/epoch', { epoch: 2, active: 'shop-a' });
    expect(older.status).toBe(409);
    expect(older.body.retryAfterMs).toBeUndefined();
    expect(await post('/failsafe', { instance: 'shop-b', epoch: 2 })).toMatchObject({
      status: 409,
      body: { granted: false, reason: 'the recorded epoch 3 is newer than 2' },
    });
  });

  it('POST /promote promotes only while the record says that epoch and this instance', async () => {
    expect(await post('/promote', { epoch: 5 })).toMatchObject({
      status: 409,
      body: { promoted: false, reason: 'the record says no epoch, not epoch 5 with shop-a active' },
    });
    await post('/epoch', { epoch: 5, active: 'shop-b' });
    expect(await post('/promote', { epoch: 5 })).toMatchObject({ status: 409 });
    await post('/epoch', { epoch: 6, active: 'shop-a' });
    expect(await post('/promote', { epoch: 5 })).toMatchObject({
      status: 409,
      body: { reason: 'the record says epoch 6 with shop-a active, not epoch 5 with shop-a active' },
    });
    expect(promoted).toEqual([]);
    expect(await post('/promote', { epoch: 6 })).toMatchObject({
      status: 200,
      body: { promoted: true, epoch: 6 },
    });
    expect(promoted).toEqual([6]);

    promoteFailure = new Error('pg_ctl promote of /data failed:\nexit 1');
    expect(await post('/promote', { epoch: 6 })).toMatchObject({
      status: 500,
      body: { error: 'pg_ctl promote of /data failed: exit 1' },
    });
    expect(logged).toContain('POST /promote: pg_ctl promote of /data failed: exit 1');
  });

  it('a corrupt record is a 500 naming the file on every endpoint that reads it', async () => {
    await post('/epoch', { epoch: 1, active: 'shop-a' });
    await import('node:fs/promises').then(({ writeFile }) => writeFile(store.path, '{'));
    for (const answer of [await get('/epoch'), await post('/epoch', { epoch: 2, active: 'shop-a' })]) {
      expect(answer).toMatchObject({
        status: 500,
        body: { error: expect.stringContaining(`epoch record ${store.path} is corrupt`) },
      });
    }
    expect((await get('/health')).status).toBe(200);
  });

  it('lets exactly the right ones of many racing clients win POST /epoch', async () => {
    const epochs = Array.from({ length: 60 }, (_, index) => index + 1).sort(() => Math.random() - 0.5);
    const answers = await Promise.all(
      epochs.map(async (epoch) => ({ epoch, ...(await post('/epoch', { epoch, active: 'shop-b' })) })),
    );
    const accepted = answers.filter((answer) => answer.status === 200).sort((a, b) => a.epoch - b.epoch);
    expect(answers.every((answer) => answer.status === 200 || answer.status === 409)).toBe(true);
    expect(accepted.at(-1)?.epoch).toBe(60);
    // One chain: each accepted one saw the one accepted before it as the record it replaced.
    let previous: number | null = null;
    for (const answer of accepted) {
      expect((answer.body.previous as { epoch: number } | null)?.epoch ?? null).toBe(previous);
      previous = answer.epoch;
    }
    for (const answer of answers.filter((one) => one.status === 409)) {
      expect((answer.body.record as { epoch: number }).epoch).toBeGreaterThan(answer.epoch);
    }
    expect((await store.read())?.epoch).toBe(60);
  });

  it('survives any POST body (fuzz): every answer is a status it documents, and it keeps serving', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.record({ epoch: fc.anything(), active: fc.anything() }).map((value) => JSON.stringify(value)),
      fc.record({ instance: fc.string(), epoch: fc.integer() }).map((value) => JSON.stringify(value)),
      fc
        .record({ epoch: fc.oneof(fc.integer(), fc.double(), fc.string()) })
        .map((value) => JSON.stringify(value)),
      fc.string(),
      fc.uint8Array({ maxLength: 512 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/epoch', '/failsafe', '/promote'), body, async (path, payload) => {
        const answer = await post(path, payload);
        expect([200, 400, 409]).toContain(answer.status);
        expect(answer.text).not.toContain(TOKEN);
      }),
      { numRuns: 300 },
    );
    expect((await get('/health')).status).toBe(200);
  });
});

describe('agent server: /metrics', () => {
  it('is not served without metrics, and answers its text with them; GET and HEAD only', async () => {
    expect((await get('/metrics')).status).toBe(404);
    const withMetrics = await startAgentServer({
      instance: 'shop-a',
      port: await freePort(),
      agentToken: TOKEN,
      record: store,
      promises: new FailsafePromises(store, 3000),
      view: () => ({ role: 'fallback', holdsPermission: false, serverRunning: true, streaming: true }),
      promote: async () => {},
      metrics: async () => ({
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        body: 'pullback_up 1\n',
      }),
    });
    try {
      const response = await fetch(`${withMetrics.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await response.text()).toBe('pullback_up 1\n');
      expect((await fetch(`${withMetrics.url}/metrics`, { method: 'HEAD' })).status).toBe(200);
      const posted = await fetch(`${withMetrics.url}/metrics`, { method: 'POST' });
      expect(posted.status).toBe(405);
      // The other endpoints are as they were.
      expect((await fetch(`${withMetrics.url}/health`)).status).toBe(200);
    } finally {
      await withMetrics.close();
    }
  });
});
