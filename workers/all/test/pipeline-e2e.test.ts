import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listSnapshots } from '@pullback/archive';
import { quietSchedule, type RedisServer, startRedis } from '@pullback/harness';
import { query, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningPipeline } from '../src/index.js';
import { shopCluster, startInWorld, testWorld, waitLong, worldConfig } from './e2e-fixtures.js';

// One redis-server for the file; each test has its own namespace, clusters, outbox and archive.
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

/** Asks for an export now and waits until both fallbacks are healthy at the snapshot it made. */
async function cycle(pipeline: RunningPipeline['pipeline'], previous: string | undefined): Promise<string> {
  await pipeline.exportNow('shop');
  return waitLong('both fallbacks at the new snapshot', async () => {
    const component = (await pipeline.readStatus()).components.find((c) => c.name === 'shop');
    const last = component?.lastSnapshot?.id;
    if (last === undefined || last === previous) return undefined;
    const fallbacks = component?.instances.filter((i) => i.role === 'fallback') ?? [];
    return fallbacks.length === 2 && fallbacks.every((i) => i.atLastSnapshot && i.state?.healthy)
      ? last
      : undefined;
  });
}

describe('the pipeline, end to end on one machine', () => {
  it('export --now -> pull -> both fallbacks become read-only hot standbys showing the newest marker, a stopped one included', async () => {
    const world = await testWorld('e2e-shop');
    const { active, fallbacks, yaml } = await shopCluster(world, { fallbacks: 2, keepLast: 2 });
    const { archive } = world;
    const fallbackPorts = fallbacks.map((f) => f.port);
    const config = worldConfig(world, redis.url, yaml);
    const { pipeline } = await startInWorld(world, config);
    expect((await pipeline.exportQueue.getJobSchedulers()).map((s) => s.key)).toEqual(['export.shop']);

    let started = Date.now();
    const first = await cycle(pipeline, undefined);
    const firstMs = Date.now() - started;
    for (const port of fallbackPorts) {
      const standby = { host: '127.0.0.1', port };
      expect(await query(standby, 'select pg_is_in_recovery()')).toBe('t');
      expect(await query(standby, 'select status from marker')).toBe('first');
      await expect(query(standby, `insert into marker values ('on a standby')`)).rejects.toThrow(
        'cannot execute INSERT in a read-only transaction',
      );
    }

    await active.psql(`update marker set status = 'second'`);
    started = Date.now();
    const second = await cycle(pipeline, first);
    const secondMs = Date.now() - started;
    for (const port of fallbackPorts) {
      const standby = { host: '127.0.0.1', port };
      expect(await query(standby, 'select status from marker')).toBe('second');
      expect(await query(standby, 'select pg_is_in_recovery()')).toBe('t');
    }

    // A fallback that went down is reported so, and the next import brings it back.
    await stopServer({ dataDir: join(world.root, 'c') });
    await waitLong('shop-c reported down', async () => {
      const state = (await pipeline.registry.instance('shop-c'))?.state;
      return state?.healthy === false && state.reason === 'not running' ? true : undefined;
    });
    await active.psql(`update marker set status = 'third'`);
    started = Date.now();
    const third = await cycle(pipeline, second);
    const thirdMs = Date.now() - started;
    for (const port of fallbackPorts) {
      expect(await query({ host: '127.0.0.1', port }, 'select status from marker')).toBe('third');
    }

    // keepLast: 2 — the pull of the third forgot the first.
    const snapshots = await listSnapshots(archive, { component: 'shop' });
    expect(snapshots.map((s) => s.id)).toEqual([second, third]);
    expect(snapshots[0]?.parent).toBe(first);
    expect(snapshots[1]?.parent).toBe(second);
    expect(snapshots[1]?.tags).toMatchObject({
      component: 'shop',
      recipe: 'postgres',
      kind: 'physical',
      epoch: '1',
      timeline: '1',
      systemIdentifier: await active.psql('select system_identifier from pg_control_system()'),
    });
    const status = await pipeline.readStatus();
    const shop = status.components.find((c) => c.name === 'shop');
    expect(shop).toMatchObject({ active: 'shop-a', epoch: 1, lastExport: { ok: true, instance: 'shop-a' } });
    expect(shop?.failures).toEqual([]);
    expect(shop?.badSnapshots).toEqual({});
    for (const instance of shop?.instances.filter((i) => i.role === 'fallback') ?? []) {
      expect(instance.state).toMatchObject({ healthy: true, running: true, snapshotId: third });
      expect(instance.state?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    }
    console.log(
      `e2e: export -> both fallbacks hot standbys: first cycle ${firstMs} ms, second cycle ${secondMs} ms ` +
        `third ${thirdMs} ms (snapshot ${snapshots[1]?.stats.logicalBytes} bytes, ${snapshots[1]?.stats.newBytesStored} new)`,
    );
  });

  it('takes a files component through the same pipeline', async () => {
    const world = await testWorld('e2e-docs');
    await mkdir(join(world.root, 'docs'));
    await writeFile(join(world.root, 'docs', 'readme'), 'hello\n');
    const config = worldConfig(
      world,
      redis.url,
      `
  docs:
    recipe: files
    path: ${join(world.root, 'docs')}
    outbox: ${join(world.root, 'outbox', 'docs')}
    schedule: "${quietSchedule()}"
`,
    );
    const { pipeline } = await startInWorld(world, config);
    await pipeline.exportNow('docs');
    const snapshot = await waitLong('the docs snapshot', async () => {
      const [found] = await listSnapshots(world.archive, { component: 'docs' });
      return found;
    });
    expect(snapshot.tags).toMatchObject({ component: 'docs', recipe: 'files', kind: 'physical' });
    expect(snapshot.stats.files).toBe(1);
  });

  it('closes cleanly on abort', async () => {
    const world = await testWorld('e2e-abort');
    const config = worldConfig(
      world,
      redis.url,
      `
  docs:
    recipe: files
    path: ${world.root}
    outbox: ${join(world.root, 'outbox')}
`,
    );
    const controller = new AbortController();
    const again = await startInWorld(world, config, {
      roles: { export: true, pull: true, import: false },
      signal: controller.signal,
    });
    controller.abort();
    await again.closed;
    await expect(again.pipeline.connection.ping()).rejects.toThrow();
  });
});
