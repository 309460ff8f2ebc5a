import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backupTree } from '@pullback/archive';
import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  applySnapshot,
  connectRedis,
  pullArtifact,
  type Recipe,
  type Redis,
  Registry,
  readStatus,
} from '../src/index.js';
import { type Sandbox, sandbox, testPrefix } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

let redis: RedisServer;
let connection: Redis;
let box: Sandbox;
let registry: Registry;

beforeAll(async () => {
  redis = await startRedis();
  connection = connectRedis(redis.url);
});

afterAll(async () => {
  await connection?.quit();
  await redis?.stop();
});

beforeEach(async () => {
  box = await sandbox(redis.url);
  registry = new Registry(connection, { prefix: testPrefix() });
  await registry.registerConfig(box.config);
  await mkdir(box.source, { recursive: true });
});

afterEach(async () => {
  await box?.remove();
});

const docs = () => box.config.components.docs!;

/** Writes `status` into the source, exports and pulls it; returns the snapshot id. */
async function snapshotOf(status: string, exportId: string): Promise<string> {
  await writeFile(join(box.source, 'status'), status);
  await treeRecipe().export({ component: 'docs', path: box.source, outbox: box.outbox, exportId });
  const result = await pullArtifact({
    component: 'docs',
    config: docs(),
    exportId,
    epoch: 1,
    outbox: box.outbox,
    archive: box.archive,
    stagingDir: box.stagingDir,
    registry,
    enqueueImport: async () => {},
  });
  return result.snapshot.id;
}

function apply(instance: string, snapshotId: string, recipe: Recipe = treeRecipe()) {
  return applySnapshot({
    component: 'docs',
    config: docs(),
    instance,
    epoch: 1,
    snapshotId,
    archive: box.archive,
    recipe,
    registry,
  });
}

describe('applySnapshot', () => {
  it('restores a snapshot onto a fallback, in place the next time, and reports it', async () => {
    const first = await snapshotOf('first\n', 'e1');
    expect(await apply('docs-b', first)).toMatchObject({ applied: true, delta: false });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('first\n');
    const b = await registry.instance('docs-b');
    expect(b?.state).toMatchObject({ snapshotId: first, healthy: true });
    expect((await registry.snapshotHealth('docs'))[first]).toMatchObject({
      state: 'good',
      instance: 'docs-b',
    });

    // Applied already (and nothing to check it is running): skipped.
    expect(await apply('docs-b', first)).toMatchObject({ applied: false, skipped: 'already-applied' });

    const second = await snapshotOf('second\n', 'e2');
    expect(await apply('docs-b', second)).toMatchObject({ applied: true, delta: true });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('second\n');
  });

  it('restores a tree snapshot tagged kind files, as `backup files` tagged them before, onto a fallback', async () => {
    await writeFile(join(box.source, 'status'), 'old\n');
    const old = await backupTree(box.archive, box.source, {
      tags: { component: 'docs', recipe: 'files', kind: 'files' },
    });
    expect(await apply('docs-b', old.id)).toMatchObject({ applied: true });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('old\n');
  });

  it('skips a snapshot superseded by a newer one, queued or applied', async () => {
    const first = await snapshotOf('first\n', 'e1');
    const second = await snapshotOf('second\n', 'e2');
    await registry.queueSnapshot('docs-c', second, (await registry.component('docs'))!.lastSnapshot!.time);
    expect(await apply('docs-c', first)).toMatchObject({ applied: false, skipped: 'superseded' });
    expect(await apply('docs-c', second)).toMatchObject({ applied: true });
    expect(await readFile(join(box.root, 'c', 'status'), 'utf8')).toBe('second\n');
  });

  it('flags a snapshot that does not start as bad, with the reason, and the fallback as unhealthy', async () => {
    const first = await snapshotOf('first\n', 'e1');
    let failure: string | undefined = 'port 2 is taken';
    const flaky = treeRecipe({ failStart: () => failure });
    await expect(apply('docs-b', first, flaky)).rejects.toThrow('docs-b did not start: port 2 is taken');
    const status = await readStatus(registry);
    const component = status.components[0]!;
    expect(component.badSnapshots[first]).toMatchObject({
      state: 'bad',
      instance: 'docs-b',
      reason: 'docs-b did not start: port 2 is taken',
    });
    expect(component.instances.find((i) => i.name === 'docs-b')?.state).toMatchObject({
      snapshotId: first,
      healthy: false,
      reason: 'docs-b did not start: port 2 is taken',
    });

    // Retried once the fallback can start: healthy, and the snapshot is proven good.
    failure = undefined;
    expect(await apply('docs-b', first, flaky)).toMatchObject({ applied: true, delta: true });
    expect((await registry.snapshotHealth('docs'))[first]?.state).toBe('good');
    expect((await registry.instance('docs-b'))?.state?.healthy).toBe(true);
  });

  it('refuses an import of a stale epoch, and one for the active', async () => {
    const first = await snapshotOf('first\n', 'e1');
    await expect(apply('docs-a', first)).rejects.toMatchObject({ code: 'not-a-fallback', permanent: true });
    await connection.hset(registry.keys.component('docs'), 'epoch', 2);
    await expect(apply('docs-b', first)).rejects.toMatchObject({ code: 'stale-epoch', permanent: true });
    await expect(readFile(join(box.root, 'b', 'status'))).rejects.toThrow();
  });
});
