import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import {
  connectRedis,
  type FullStatus,
  parseConfig,
  type Redis,
  Registry,
  readStatus,
} from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatus } from '../src/status-view.js';
import { runCli } from './run-cli.js';

let redis: RedisServer;
let connection: Redis;
let scratch: { path: string; remove(): Promise<void> };
let namespace = 0;

beforeAll(async () => {
  [redis, scratch] = await Promise.all([startRedis(), scratchDir('cli-status-election')]);
  connection = connectRedis(redis.url);
}, 60_000);

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
  await scratch?.remove();
});

const COMPONENTS = `
components:
  shop:
    recipe: postgres
    outbox: /tmp/outbox
    instances:
      - { name: shop-a, role: active, host: a.example, port: 5432, dataDir: /srv/a, priority: 10 }
      - { name: shop-b, role: fallback, host: b.example, port: 5433, dataDir: /srv/b, priority: 50 }
      - { name: shop-c, role: fallback, host: c.example, port: 5434, dataDir: /srv/c, priority: 80 }
  docs:
    recipe: files
    path: /srv/docs
    outbox: /tmp/docs-outbox
`;
const CONFIG = `redis: redis://127.0.0.1:6379\narchive: { url: /tmp/archive }\n${COMPONENTS}`;

const NOW = new Date('2026-12-06T03:00:00.000Z');
/** Heartbeats this old are silent in these tests: far above a read's delay on a loaded machine. */
const SILENT_MS = 3000;

async function freshRegistry(prefix?: string): Promise<Registry> {
  const registry = new Registry(connection, {
    prefix: prefix ?? `pullback-test-status-election-${process.pid}-${namespace++}`,
  });
  await registry.registerConfig(parseConfig(CONFIG));
  return registry;
}

const OLDER = {
  epoch: 1,
  to: 'shop-a',
  at: '2026-12-06T01:00:00.000Z',
  reason: 'by hand --force',
  by: 'cli',
  lostBytes: 0,
};
const NEWER = {
  epoch: 2,
  from: 'shop-a',
  to: 'shop-b',
  at: '2026-12-06T02:50:00.123Z',
  reason: 'failover: shop-a failed',
  by: 'election-1:4242',
  lostBytes: 1536,
};

/**
 * A registry as the election leaves it after shop-b took over from shop-a: a leader,
 * shop-b's active lease at epoch 2, two activations, shop-a's agent silent (it last
 * said it ran shop-a as the active, its server down), shop-b's fresh, shop-c's never seen.
 */
async function afterFailover(registry: Registry): Promise<void> {
  expect(await registry.acquireLeader('election-1:4242', 60_000)).toBe(true);
  await registry.recordActivation('shop', OLDER);
  await registry.reportAgent('shop-a', {
    holder: 'host-a:11',
    role: 'active',
    epoch: 1,
    serverRunning: false,
    at: '2026-12-06T02:49:58.000Z',
  });
  expect(await registry.takeEpoch('shop', 0)).toBe(2);
  expect(await registry.setActive('shop', 'shop-b', 2)).toEqual({ ok: true });
  expect(await registry.acquireActiveLease('shop', 'shop-b', 2, 60_000)).toEqual({ ok: true });
  await registry.recordActivation('shop', NEWER);
  await waitFor(
    "shop-a's heartbeat to grow silent",
    async () => (((await registry.agent('shop-a'))?.ageMs ?? 0) >= SILENT_MS ? true : undefined),
    30_000,
  );
  await registry.reportAgent('shop-b', {
    holder: 'host-b:22',
    role: 'active',
    epoch: 2,
    serverRunning: true,
    at: '2026-12-06T02:59:59.000Z',
  });
}

const CONNECT =
  'postgresql://b.example:5433,c.example:5434,a.example:5432/postgres?target_session_attrs=read-write';

/** The lines of one component, from its first line to the blank line after it. */
function blockOf(text: string, component: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`${component} (`));
  if (start === -1) throw new Error(`no component ${component} in:\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start, end === -1 ? undefined : end);
}

function lineOf(text: string, start: string): string {
  const line = text.split('\n').find((candidate) => candidate.startsWith(start));
  if (line === undefined) throw new Error(`no line starting ${JSON.stringify(start)} in:\n${text}`);
  return line;
}

describe('status shows the election', () => {
  it('the leader, the active lease, the connection string, each agent (one silent) and the activations', {
    timeout: 60_000,
  }, async () => {
    const registry = await freshRegistry();
    await afterFailover(registry);
    const status = await readStatus(registry, { now: NOW, agentSilentMs: SILENT_MS });
    const text = renderStatus({ ...status, queues: {}, nextExports: {}, running: [] });
    const lines = text.split('\n');

    expect(lines[0]).toMatch(/^election leader {2}election-1:4242, lease (\d+\.\d) s left$/);
    expect(Number(/lease (\S+) s/.exec(lines[0] ?? '')?.[1])).toBeLessThanOrEqual(60);
    expect(lines[1]).toBe('');
    const shopLines = blockOf(text, 'shop');
    expect(shopLines[0]).toBe('shop (postgres, schedule "0 * * * *")  active: shop-b, epoch 2');
    expect(shopLines[1]).toMatch(/^ {2}active lease {3}shop-b@2, \d+\.\d s left$/);
    expect(shopLines[2]).toBe(`  connect        ${CONNECT}`);
    expect(lineOf(text, '  instance       shop-a')).toMatch(
      /^ {2}instance {7}shop-a :5432 fallback at epoch 2; agent silent for (\d+\.\d) s \(last said: active at epoch 1, server not running; on host-a:11\)$/,
    );
    const silentFor = Number(/silent for (\S+) s/.exec(lineOf(text, '  instance       shop-a'))?.[1]);
    expect(silentFor).toBeGreaterThanOrEqual(SILENT_MS / 1000);
    expect(lineOf(text, '  instance       shop-b')).toMatch(
      /^ {2}instance {7}shop-b :5433 active at epoch 2; agent on host-b:22, \d+\.\d s ago: active at epoch 2, server running$/,
    );
    expect(lineOf(text, '  instance       shop-c')).toBe(
      '  instance       shop-c :5434 fallback at epoch 2; no agent',
    );
    const activations = lines.filter((line) => line.startsWith('  activation'));
    expect(activations).toEqual([
      '  activation     2026-12-06 02:50:00Z epoch 2: shop-a -> shop-b, failover: shop-a failed, by election-1:4242, 1536 bytes lost (1.5 KiB)',
      '  activation     2026-12-06 01:00:00Z epoch 1: none -> shop-a, by hand --force, by cli, no data lost',
    ]);
    // The files component has no instances: no lease, no clients' string, no activations.
    const docs = blockOf(text, 'docs');
    expect(docs[0]).toMatch(/^docs \(files, schedule "0 \* \* \* \*"\) {2}active: none, epoch 1$/);
    expect(docs.join('\n')).not.toMatch(/active lease|connect|instance|activation/);

    // --json is this object as JSON: every field survives the trip.
    const json = JSON.parse(JSON.stringify(status)) as FullStatus;
    expect(json.leader).toEqual({ holder: 'election-1:4242', ttlMs: expect.any(Number) });
    expect(json.leader?.ttlMs).toBeGreaterThan(0);
    const shop = json.components.find((component) => component.name === 'shop');
    expect(shop).toMatchObject({
      epoch: 2,
      active: 'shop-b',
      activeLease: { instance: 'shop-b', epoch: 2, ttlMs: expect.any(Number) },
      connectionString: CONNECT,
      activations: [NEWER, OLDER],
    });
    const agents = Object.fromEntries((shop?.instances ?? []).map((instance) => [instance.name, instance]));
    expect(agents['shop-a']).toMatchObject({
      role: 'fallback',
      epoch: 2,
      agent: { holder: 'host-a:11', role: 'active', epoch: 1, serverRunning: false, silent: true },
    });
    expect(agents['shop-a']?.agent?.ageMs).toBeGreaterThanOrEqual(SILENT_MS);
    expect(agents['shop-b']).toMatchObject({
      role: 'active',
      agent: { holder: 'host-b:22', role: 'active', epoch: 2, serverRunning: true, silent: false },
    });
    expect(agents['shop-b']?.agent?.ageMs).toBeLessThan(SILENT_MS);
    expect(agents['shop-c']?.agent).toBeNull();
    const docsJson = json.components.find((component) => component.name === 'docs');
    expect(docsJson).toMatchObject({ activeLease: null, activations: [] });
    expect(docsJson).not.toHaveProperty('connectionString');
  });

  it('says plainly that nothing leads, no instance holds permission and no agent ever reported', async () => {
    const registry = await freshRegistry();
    const status = await readStatus(registry, { now: NOW });
    const text = renderStatus({ ...status, queues: {}, nextExports: {}, running: [] });
    const lines = text.split('\n');
    expect(lines[0]).toBe('election leader  none: no election worker leads');
    const shopLines = blockOf(text, 'shop');
    expect(shopLines[0]).toBe('shop (postgres, schedule "0 * * * *")  active: shop-a, epoch 1');
    expect(shopLines[1]).toBe('  active lease   none: no instance holds permission to take writes');
    expect(shopLines[2]).toBe(
      '  connect        postgresql://a.example:5432,c.example:5434,b.example:5433/postgres?target_session_attrs=read-write',
    );
    expect(lines.filter((line) => line.startsWith('  instance'))).toEqual([
      '  instance       shop-a :5432 active at epoch 1; no agent',
      '  instance       shop-b :5433 fallback at epoch 1; no agent',
      '  instance       shop-c :5434 fallback at epoch 1; no agent',
    ]);
    expect(lines).toContain('  activations    none yet');

    const json = JSON.parse(JSON.stringify(status)) as FullStatus;
    expect(json.leader).toBeNull();
    const shop = json.components.find((component) => component.name === 'shop');
    expect(shop?.activeLease).toBeNull();
    expect(shop?.activations).toEqual([]);
    expect(shop?.instances.map((instance) => instance.agent)).toEqual([null, null, null]);
  });

  it('pullback status and status --json print it', { timeout: 60_000 }, async () => {
    // The command reads the default prefix: this test alone uses it.
    const registry = await freshRegistry('pullback');
    await afterFailover(registry);
    const configPath = join(scratch.path, 'pullback.yaml');
    await writeFile(
      configPath,
      `redis: ${redis.url}\narchive: { url: ${join(scratch.path, 'archive')} }\n${COMPONENTS}`,
    );

    const text = await runCli(['status', '--config', configPath]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^election leader {2}election-1:4242, lease \d+\.\d s left\n\n/);
    expect(text.stdout).toContain(`\n  connect        ${CONNECT}\n`);
    expect(text.stdout).toMatch(/\n {2}active lease {3}shop-b@2, \d+\.\d s left\n/);
    expect(text.stdout).toMatch(
      /\n {2}instance {7}shop-a :5432 fallback at epoch 2; agent silent for \d+\.\d s /,
    );
    expect(text.stdout).toContain(
      '\n  activation     2026-12-06 02:50:00Z epoch 2: shop-a -> shop-b, failover: shop-a failed, by election-1:4242, 1536 bytes lost (1.5 KiB)\n',
    );

    const json = await runCli(['status', '--json', '--config', configPath]);
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as FullStatus;
    expect(status.leader?.holder).toBe('election-1:4242');
    const shop = status.components.find((component) => component.name === 'shop');
    expect(shop).toMatchObject({
      activeLease: { instance: 'shop-b', epoch: 2 },
      connectionString: CONNECT,
      activations: [NEWER, OLDER],
    });
    expect(shop?.instances.find((instance) => instance.name === 'shop-a')?.agent?.silent).toBe(true);
  });
});
