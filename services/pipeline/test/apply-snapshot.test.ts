import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveWalFile, backupTree, listProofs, openArchive, walStreamName } from '@pullback/archive';
import { type RedisServer, startRedis } from '@pullback/harness';
import { type Backend, PermanentError } from '@pullback/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  applySnapshot,
  connectRedis,
  type InstancePosition,
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

/** `backend` as a role with read rights only sees it: every write refused as the fs driver refuses it. */
function refusingWrites(backend: Backend): Backend {
  const refuse = async (name: string): Promise<never> => {
    throw new PermanentError(`${name}: EACCES: permission denied`, {
      cause: Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }),
    });
  };
  return {
    location: backend.location,
    properties: backend.properties,
    load: (name, range, options) => backend.load(name, range, options),
    stat: (name, options) => backend.stat(name, options),
    list: (prefix, options) => backend.list(prefix, options),
    save: (name) => refuse(name),
    remove: (name) => refuse(name),
  };
}

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

describe('applySnapshot onto a fallback that follows the active', () => {
  const SYSTEM = '7300000000000000042';
  const serverTags = { systemIdentifier: SYSTEM, timeline: '1', startLsn: '0/2000028', endLsn: '0/2000100' };

  /** A database-like snapshot: the tree with the server tags a postgres export gives. */
  async function serverSnapshot(status: string): Promise<string> {
    await writeFile(join(box.source, 'status'), status);
    const snapshot = await backupTree(box.archive, box.source, {
      tags: { component: 'docs', recipe: 'tree', kind: 'physical', ...serverTags },
    });
    return snapshot.id;
  }

  /** The tree recipe, with a fallback that says where it is and drills that restore and read the tree. */
  function following(position: () => InstancePosition, drills: string[], failDrill?: string): Recipe {
    return {
      ...treeRecipe(),
      position: async () => position(),
      async startAudit(input) {
        drills.push(input.snapshotId);
        await input.restore(input.target);
        if (failDrill !== undefined) throw new Error(failDrill);
        const status = await readFile(join(input.target, 'status'), 'utf8');
        return {
          kind: 'physical',
          port: input.port,
          dataDir: input.target,
          pid: undefined,
          connect: status,
          stopCommand: '',
          stop: async () => {},
        };
      },
    };
  }

  const streaming: InstancePosition = {
    running: true,
    inRecovery: true,
    lsn: '0/3000000',
    timeline: 1,
    source: 'streaming',
    systemIdentifier: SYSTEM,
  };

  it('records the new snapshot without rewinding it, and proves the snapshot by one drill across fallbacks', async () => {
    const drills: string[] = [];
    const recipe = following(() => streaming, drills);
    const first = await serverSnapshot('first\n');
    // Never imported: seeded, and that start proves the snapshot (no drill).
    for (const instance of ['docs-b', 'docs-c']) {
      expect(await apply(instance, first, recipe)).toMatchObject({ applied: true, followed: false });
    }
    expect(drills).toEqual([]);
    expect((await listProofs(box.archive)).get(first)).toMatchObject({ ok: true });

    const second = await serverSnapshot('second\n');
    const b = await apply('docs-b', second, recipe);
    const c = await apply('docs-c', second, recipe);
    expect(b).toMatchObject({ applied: true, followed: true, drill: { ran: true, ok: true } });
    expect(c).toMatchObject({ applied: true, followed: true, drill: { ran: false, reason: 'claimed' } });
    expect(drills).toEqual([second]);
    // Not rewound: the data directories hold what they held.
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('first\n');
    expect(await readFile(join(box.root, 'c', 'status'), 'utf8')).toBe('first\n');
    expect((await registry.instance('docs-c'))?.state).toMatchObject({
      snapshotId: second,
      healthy: true,
      running: true,
      lsn: '0/3000000',
      source: 'streaming',
      timeline: 1,
    });
    expect((await registry.snapshotHealth('docs'))[second]).toMatchObject({
      state: 'good',
      instance: 'docs-b',
    });
    expect((await listProofs(box.archive)).get(second)).toMatchObject({ ok: true });
    expect(await readdir(box.root)).not.toContain(`pullback-drill-${second.slice(0, 12)}`);
  });

  it('with read rights only on the archive (docs/rights.md), seeds and drills: the verdicts go to the registry alone', async () => {
    const drills: string[] = [];
    const recipe = following(() => streaming, drills);
    const readOnly = await openArchive({
      archive: refusingWrites(box.archive.backend),
      keyFile: join(box.root, 'archive.key'),
    });
    const applyReadOnly = (instance: string, snapshotId: string) =>
      applySnapshot({
        component: 'docs',
        config: docs(),
        instance,
        epoch: 1,
        snapshotId,
        archive: readOnly,
        recipe,
        registry,
      });
    const first = await serverSnapshot('first\n');
    for (const instance of ['docs-b', 'docs-c']) {
      expect(await applyReadOnly(instance, first)).toMatchObject({ applied: true, followed: false });
    }
    const second = await serverSnapshot('second\n');
    expect(await applyReadOnly('docs-b', second)).toMatchObject({
      followed: true,
      drill: { ran: true, ok: true },
    });
    // The drill is final all the same: no other fallback runs it again.
    expect(await applyReadOnly('docs-c', second)).toMatchObject({ drill: { ran: false, reason: 'claimed' } });
    expect(drills).toEqual([second]);
    expect((await registry.snapshotHealth('docs'))[second]).toMatchObject({
      state: 'good',
      instance: 'docs-b',
    });
    expect(await listProofs(box.archive)).toEqual(new Map());
  });

  it('reseeds a fallback that is stopped, of another system, out of recovery, or stuck without WAL', async () => {
    const drills: string[] = [];
    let now: InstancePosition = streaming;
    const recipe = following(() => now, drills);
    await apply('docs-b', await serverSnapshot('first\n'), recipe);
    const cases: [string, InstancePosition, string][] = [
      ['stopped', { running: false, source: 'none', systemIdentifier: SYSTEM }, 'it is not running'],
      [
        'another system',
        { ...streaming, systemIdentifier: '1' },
        `it is of system 1, the snapshot of ${SYSTEM}`,
      ],
      ['promoted', { ...streaming, inRecovery: false }, 'it is not in recovery'],
      [
        'stuck',
        { ...streaming, source: 'archive' },
        'it does not stream and the archive holds no WAL of timeline 1',
      ],
      ['ahead on its timeline', { ...streaming, timeline: 2 }, "it is on timeline 2, past the snapshot's 1"],
    ];
    for (const [what, position, why] of cases) {
      now = position;
      const id = await serverSnapshot(`${what}\n`);
      expect(await apply('docs-b', id, recipe), what).toMatchObject({
        applied: true,
        followed: false,
        reseeded: why,
      });
      expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe(`${what}\n`);
    }
    // Running but not answering.
    const silent: Recipe = {
      ...recipe,
      position: async () => {
        throw new Error('connection refused');
      },
    };
    expect(await apply('docs-b', await serverSnapshot('silent\n'), silent)).toMatchObject({
      followed: false,
      reseeded: 'it does not answer: connection refused',
    });
    expect(drills).toEqual([]);
  });

  it('tells a followed fallback where the active is, and reseeds one that cannot be told', async () => {
    const drills: string[] = [];
    const told: (string | undefined)[] = [];
    let refuse: string | undefined;
    const recipe: Recipe = {
      ...following(() => streaming, drills),
      async retarget(target) {
        if (refuse !== undefined) throw new Error(refuse);
        told.push(
          `${target.instance.name}: ${target.upstream?.host}:${target.upstream?.port} ${target.archivedWal}`,
        );
      },
    };
    await apply('docs-b', await serverSnapshot('first\n'), recipe);
    const followed = await applySnapshot({
      component: 'docs',
      config: docs(),
      instance: 'docs-b',
      epoch: 1,
      snapshotId: await serverSnapshot('second\n'),
      archive: box.archive,
      recipe,
      registry,
      archivedWal: true,
    });
    expect(followed).toMatchObject({ followed: true });
    expect(told).toEqual(['docs-b: 127.0.0.1:1 true']);
    refuse = 'postgresql.auto.conf: permission denied';
    expect(await apply('docs-b', await serverSnapshot('third\n'), recipe)).toMatchObject({ followed: false });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('third\n');
  });

  it('follows a fallback that replays from the archive while the archive holds its WAL', async () => {
    const drills: string[] = [];
    const recipe = following(() => ({ ...streaming, source: 'archive', lsn: '0/3000100' }), drills);
    await apply('docs-b', await serverSnapshot('first\n'), recipe);
    const stream = walStreamName('docs', SYSTEM);
    const at = new Date().toISOString();
    const archiveSegment = (name: string) =>
      archiveWalFile(box.archive, stream, name, Buffer.alloc(1024 * 1024), {
        segmentSize: 1024 * 1024,
        partial: false,
        firstReceivedAt: at,
        lastReceivedAt: at,
      });
    // 1 MiB segments: 0/3000100 is in segment 0x30. The archive starts after it: stuck, reseeded.
    await archiveSegment('000000010000000000000031');
    const stuck = await serverSnapshot('stuck\n');
    expect(await apply('docs-b', stuck, recipe)).toMatchObject({ followed: false });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('stuck\n');
    // Once the archive holds it, the fallback is followed.
    await archiveSegment('000000010000000000000030');
    const second = await serverSnapshot('second\n');
    expect(await apply('docs-b', second, recipe)).toMatchObject({
      followed: true,
      drill: { ran: true, ok: true },
    });
    expect(await readFile(join(box.root, 'b', 'status'), 'utf8')).toBe('stuck\n');
  });

  it('flags a snapshot whose drill fails as bad, with the reason, in the registry and the archive', async () => {
    const drills: string[] = [];
    const recipe = following(() => streaming, drills, 'the server did not start');
    await apply('docs-b', await serverSnapshot('first\n'), recipe);
    const second = await serverSnapshot('second\n');
    expect(await apply('docs-b', second, recipe)).toMatchObject({
      followed: true,
      drill: { ran: true, ok: false, reason: 'restore drill: the server did not start' },
    });
    expect((await registry.snapshotHealth('docs'))[second]).toMatchObject({
      state: 'bad',
      reason: 'restore drill: the server did not start',
    });
    expect((await listProofs(box.archive)).get(second)).toMatchObject({
      ok: false,
      reason: 'restore drill: the server did not start',
    });
    // The fallback itself is fine: it still follows.
    expect((await registry.instance('docs-b'))?.state).toMatchObject({ snapshotId: second, healthy: true });
  });
});
