import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn } from '@pullback/archive';
import { activate } from '@pullback/election';
import { type RedisServer, scratchDir, startRedis } from '@pullback/harness';
import { parseConfig } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { AgentClient, activationEffects, readActivationRequest } from '@pullback/worker-election';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ActivationWorld,
  AGENT_TOKEN,
  activationWorld,
  isWritable,
  killActive,
  waitLong,
  writeAndSettle,
} from './activation-world.js';
import { runCli } from './run-cli.js';

let redis: RedisServer;
let world: ActivationWorld;
/** The world of the running test, closed after it. */
let opened: ActivationWorld | undefined;

async function openWorld(label: string): Promise<ActivationWorld> {
  opened = await activationWorld(redis, label);
  return opened;
}

beforeEach(async () => {
  redis = await startRedis();
}, 120_000);

afterEach(async () => {
  await opened?.close();
  opened = undefined;
  await redis?.stop();
}, 120_000);

const agents = new AgentClient({ agentToken: AGENT_TOKEN });

/** Every agent's epoch record, by instance. */
async function records(w: ActivationWorld) {
  const out: Record<string, unknown> = {};
  for (const m of Object.values(w.members)) {
    const record = await agents.epoch({ instance: m.name, url: `http://127.0.0.1:${m.agentPort}` });
    out[m.name] = record === undefined ? null : { epoch: record.epoch, active: record.active };
  }
  return out;
}

/** What must not change when an activation is refused. */
async function snapshot(w: ActivationWorld) {
  const component = await w.pipeline.registry.component('shop');
  return {
    epoch: component?.epoch,
    active: component?.active,
    records: await records(w),
    activations: await w.pipeline.registry.activations('shop'),
    writable: await Promise.all([w.members.b.port, w.members.c.port].map(isWritable)),
  };
}

/** shop-a's agent keeps its lease, as the active's permission keeper does, until stopped. */
function holdLease(w: ActivationWorld): { stop(): void } {
  let stopped = false;
  const ttl = 3000;
  void (async () => {
    await w.pipeline.registry.acquireActiveLease('shop', 'shop-a', 1, ttl);
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (!stopped) await w.pipeline.registry.renewActiveLease('shop', 'shop-a', 1, ttl).catch(() => {});
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

const cli = (args: string[], configPath: string) =>
  runCli(['import', ...args, '--config', configPath], { timeoutMs: 180_000 });

describe('pullback import NAME --activate', () => {
  it('a fallback without an agent: refused in one line before anything is taken', async () => {
    const scratch = await scratchDir('activate-no-agent');
    try {
      const path = join(scratch.path, 'pullback.yaml');
      await writeFile(
        path,
        `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
agentToken: ${AGENT_TOKEN}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
`,
      );
      const result = await cli(['shop-b', '--activate'], path);
      expect(result.code).toBe(1);
      expect(result.errorLines).toEqual([
        `pullback: cannot activate shop-b: it has no agent in ${path}; HINT: add agent: { port: PORT } to it and run its agent next to it`,
      ]);
      const missing = await cli(['shop-x', '--activate'], path);
      expect(missing.code).toBe(1);
      expect(missing.errorLines).toEqual([`pullback: no instance shop-x in ${path}`]);
    } finally {
      await scratch.remove();
    }
  });

  it('refuses while the active is healthy, a priority-0 fallback, a stale one; then promotes shop-b, and shop-c follows it', async () => {
    world = await openWorld('import-activate');
    const { b, c } = world.members;
    await world.reportFallbacksHealthy();
    const lease = holdLease(world);
    await waitLong('the active lease held', async () =>
      (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
    );
    const before = await snapshot(world);
    expect(before).toMatchObject({ epoch: 1, active: 'shop-a', activations: [], writable: [false, false] });

    // The active is healthy: refused, nothing changed.
    const healthy = await cli(['shop-b', '--activate'], world.configPath);
    expect(healthy.code).toBe(1);
    expect(healthy.errorLines).toEqual([
      expect.stringMatching(
        /^pullback: cannot activate shop-b of shop: the active shop-a is healthy \(its active lease is held/,
      ),
    ]);
    expect(await snapshot(world)).toEqual(before);

    // A fallback of priority 0: refused even with --force.
    const zeroPath = join(world.root, 'priority-0.yaml');
    await writeFile(zeroPath, world.yamlWith({ cPriority: 0 }));
    await world.pipeline.registry.registerComponent(
      'shop',
      parseConfig(world.yamlWith({ cPriority: 0 }), zeroPath).components.shop!,
    );
    const zero = await cli(['shop-c', '--activate', '--force'], zeroPath);
    expect(zero.code).toBe(1);
    expect(zero.errorLines).toEqual([
      'pullback: cannot activate shop-c of shop: shop-c has priority 0 (never chosen)',
    ]);
    expect(await snapshot(world)).toEqual(before);
    await world.pipeline.registry.registerComponent('shop', world.config.components.shop!);

    // The active's host dies.
    const end = await writeAndSettle(world, 'before the failover');
    await world.reportFallbacksHealthy();
    await killActive(world, lease);
    const dead = await snapshot(world);

    // A fallback behind the archive's end: refused without --force.
    const receiver = {
      holder: 'pull-1:1',
      source: 'shop-a',
      streaming: false,
      synchronous: false,
      slot: 'pullback_shop',
      timeline: 1,
      updatedAt: new Date().toISOString(),
    };
    await world.pipeline.registry.reportWalReceiver('shop', {
      ...receiver,
      archivedLsn: formatLsn(parseLsn(end) + 64n * 1024n * 1024n),
    });
    const stale = await cli(['shop-b', '--activate'], world.configPath);
    expect(stale.code).toBe(1);
    expect(stale.errorLines).toEqual([
      expect.stringMatching(
        /^pullback: cannot activate shop-b of shop: shop-b is behind the archive by \d+ bytes/,
      ),
    ]);
    expect(await snapshot(world)).toEqual(dead);

    // The receiver stored everything the fallbacks have; the active had written 8 KiB more.
    await world.pipeline.registry.reportWalReceiver('shop', {
      ...receiver,
      archivedLsn: end,
      activeLsn: formatLsn(parseLsn(end) + 8192n),
    });
    const done = await cli(['shop-b', '--activate'], world.configPath);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toBe('activated shop-b of shop at epoch 2 (was shop-a); lost: 8192 bytes\n');

    // shop-b takes writes, and has every row.
    expect(await isWritable(b.port)).toBe(true);
    expect(await query({ host: '127.0.0.1', port: b.port }, 'select status from marker')).toBe(
      'before the failover',
    );
    await query({ host: '127.0.0.1', port: b.port }, "update marker set status = 'written on shop-b'");
    // The registry, every agent's record, the history and the schedule say shop-b at epoch 2.
    const component = await world.pipeline.registry.component('shop');
    expect({ epoch: component?.epoch, active: component?.active }).toEqual({ epoch: 2, active: 'shop-b' });
    expect((await world.pipeline.registry.instances('shop')).map((i) => [i.name, i.role, i.epoch])).toEqual([
      ['shop-a', 'fallback', 2],
      ['shop-b', 'active', 2],
      ['shop-c', 'fallback', 2],
    ]);
    const record = { epoch: 2, active: 'shop-b' };
    expect(await records(world)).toEqual({ 'shop-a': record, 'shop-b': record, 'shop-c': record });
    expect(await world.pipeline.registry.activations('shop')).toEqual([
      expect.objectContaining({
        epoch: 2,
        from: 'shop-a',
        to: 'shop-b',
        by: 'cli',
        reason: 'by hand',
        lostBytes: 8192,
      }),
    ]);
    const schedulers = await world.pipeline.exportQueue.getJobSchedulers(0, -1);
    expect(schedulers.map((s) => s.template?.data)).toEqual([
      expect.objectContaining({ component: 'shop', epoch: 2 }),
    ]);
    // shop-c streams from shop-b on its new timeline.
    await waitLong('the write on shop-b seen on shop-c', async () =>
      (await query({ host: '127.0.0.1', port: c.port }, 'select status from marker')) === 'written on shop-b'
        ? true
        : undefined,
    );
    expect(await isWritable(c.port)).toBe(false);
    expect(
      await query({ host: '127.0.0.1', port: c.port }, 'select sender_port from pg_stat_wal_receiver'),
    ).toBe(String(b.port));
  });

  it('--force against a healthy active: its agent demotes it before shop-b is promoted, never two writable', async () => {
    world = await openWorld('activate-force');
    const { a, b, c } = world.members;
    await writeAndSettle(world, 'before the forced activation');
    await world.reportFallbacksHealthy();
    const lease = holdLease(world);
    await waitLong('the active lease held', async () =>
      (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
    );
    let watching = true;
    const samples: boolean[][] = [];
    const watcher = (async () => {
      while (watching) samples.push(await Promise.all([a.port, b.port, c.port].map(isWritable)));
    })();
    const done = await cli(['shop-b', '--activate', '--force'], world.configPath);
    watching = false;
    await watcher;
    lease.stop();
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toBe('activated shop-b of shop at epoch 2 (was shop-a); lost: unknown\n');
    // shop-a writable at first, shop-b at the end, never both.
    expect(samples[0]).toEqual([true, false, false]);
    expect(samples.every((sample) => sample.filter(Boolean).length <= 1)).toBe(true);
    expect(await Promise.all([a.port, b.port, c.port].map(isWritable))).toEqual([false, true, false]);
    expect(await world.pipeline.registry.activations('shop')).toEqual([
      expect.objectContaining({ epoch: 2, from: 'shop-a', to: 'shop-b', reason: 'by hand --force' }),
    ]);
    expect(await query({ host: '127.0.0.1', port: b.port }, 'select status from marker')).toBe(
      'before the forced activation',
    );
  });

  it('two activations at once (shop-b and shop-c): exactly one succeeds, never two writable', async () => {
    world = await openWorld('activate-race');
    await writeAndSettle(world, 'before the race');
    await world.reportFallbacksHealthy();
    const lease = holdLease(world);
    await waitLong('the active lease held', async () =>
      (await world.pipeline.registry.activeLease('shop')) === undefined ? undefined : true,
    );
    await killActive(world, lease);

    const ports = [world.members.b.port, world.members.c.port];
    let watching = true;
    const samples: number[] = [];
    const watcher = (async () => {
      while (watching) {
        samples.push((await Promise.all(ports.map(isWritable))).filter(Boolean).length);
      }
    })();
    const run = async (candidate: 'shop-b' | 'shop-c') =>
      activate(
        await readActivationRequest(world.pipeline.registry, {
          component: 'shop',
          candidate,
          activeFailed: true,
          reason: 'race',
          by: `test-${candidate}`,
        }),
        activationEffects({
          pipeline: world.pipeline,
          config: world.config,
          component: 'shop',
          oldActive: 'shop-a',
          agents,
        }),
      );
    const results = await Promise.all([run('shop-b'), run('shop-c')]);
    // A loser promoted before the winner recorded its epoch is demoted by its agent: give it the time.
    const winner = results[0]?.ok ? 'shop-b' : 'shop-c';
    const winnerPort = winner === 'shop-b' ? ports[0] : ports[1];
    await waitLong('exactly one writable', async () => {
      const writable = await Promise.all(ports.map(isWritable));
      return writable.filter(Boolean).length === 1 ? writable : undefined;
    });
    watching = false;
    await watcher;

    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({
      reason: expect.stringMatching(/^cannot activate shop-[bc] of shop: /),
    });
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(1);
    expect(await isWritable(winnerPort as number)).toBe(true);
    const component = await world.pipeline.registry.component('shop');
    const won = results.find((r) => r.ok);
    expect(component?.active).toBe(winner);
    expect(component?.epoch).toBe(won?.ok ? won.epoch : undefined);
    expect(await world.pipeline.registry.activations('shop')).toEqual([
      expect.objectContaining({ to: winner, by: `test-${winner}` }),
    ]);
    const record = { epoch: component?.epoch, active: winner };
    expect(await records(world)).toEqual({ 'shop-a': record, 'shop-b': record, 'shop-c': record });
  });
});
