import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, initArchive, listSnapshots } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  scratchDir,
  startPostgres,
  startRedis,
  waitFor,
} from '@pullback/harness';
import { type Config, parseConfig } from '@pullback/pipeline';
import { query, stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPipeline, startAll } from '../src/index.js';

const execFileAsync = promisify(execFile);

let redis: RedisServer;
let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let archive: Archive;
let config: Config;
let running: RunningPipeline | undefined;
const fallbackPorts: number[] = [];

beforeAll(async () => {
  redis = await startRedis();
  active = await startPostgres();
  await execFileAsync(join(active.binDir, 'pgbench'), [
    '-i',
    '-s',
    '1',
    '-q',
    '-d',
    active.connectionString(),
  ]);
  await active.psql(`create table marker (status text); insert into marker values ('first')`);
  scratch = await scratchDir('e2e');
  const root = scratch.path;
  // Fallback data directories and sockets live here: the postgres account must reach them.
  const owner = await postgresOwner();
  await mkdir(join(root, 'socket'));
  await mkdir(join(root, 'docs'));
  await writeFile(join(root, 'docs', 'readme'), 'hello\n');
  if (owner) {
    await chown(root, owner.uid, owner.gid);
    await chown(join(root, 'socket'), owner.uid, owner.gid);
  }
  ({ archive } = await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') }));
  fallbackPorts.push(await freePort(), await freePort());
  config = parseConfig(`
redis: ${redis.url}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
components:
  shop:
    recipe: postgres
    retention: { keepLast: 2 }
    outbox: ${join(root, 'outbox', 'shop')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: ${fallbackPorts[0]}, dataDir: ${join(root, 'b')}, priority: 50 }
      - { name: shop-c, role: fallback, host: 127.0.0.1, port: ${fallbackPorts[1]}, dataDir: ${join(root, 'c')}, priority: 10 }
  docs:
    recipe: files
    path: ${join(root, 'docs')}
    outbox: ${join(root, 'outbox', 'docs')}
`);
});

afterAll(async () => {
  await running?.close();
  for (const dataDir of [join(scratch.path, 'b'), join(scratch.path, 'c')]) {
    await stopServer({ dataDir }).catch(() => {});
  }
  await active?.stop();
  await redis?.stop();
  await scratch?.remove();
});

/** Waits in this file allow for a loaded machine. */
const waitLong = <T>(what: string, check: () => Promise<T | undefined>) => waitFor(what, check, 240_000);

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
    running = await startAll(config, {
      prefix: `t${randomUUID().slice(0, 8)}`,
      archive,
      stagingDir: join(scratch.path, 'staging'),
      retry: { attempts: 3, backoffMs: 500 },
      postgres: { socketDir: join(scratch.path, 'socket') },
      positionIntervalMs: 1000,
    });
    const { pipeline } = running;
    expect((await pipeline.exportQueue.getJobSchedulers()).map((s) => s.key).sort()).toEqual([
      'export.docs',
      'export.shop',
    ]);

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
    await stopServer({ dataDir: join(scratch.path, 'c') });
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
    const pipeline = running!.pipeline;
    await pipeline.exportNow('docs');
    const snapshot = await waitLong('the docs snapshot', async () => {
      const [found] = await listSnapshots(archive, { component: 'docs' });
      return found;
    });
    expect(snapshot.tags).toMatchObject({ component: 'docs', recipe: 'files', kind: 'physical' });
    expect(snapshot.stats.files).toBe(1);
  });

  it('closes cleanly on abort', async () => {
    const controller = new AbortController();
    const again = await startAll(config, {
      prefix: `t${randomUUID().slice(0, 8)}`,
      archive,
      stagingDir: join(scratch.path, 'staging-2'),
      roles: { export: true, pull: true, import: false },
      signal: controller.signal,
    });
    controller.abort();
    await again.closed;
    await expect(again.pipeline.connection.ping()).rejects.toThrow();
  });
});
