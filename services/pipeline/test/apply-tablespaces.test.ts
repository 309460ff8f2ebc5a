import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backupTree } from '@pullback/archive';
import { type RedisServer, startRedis } from '@pullback/harness';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  applySnapshot,
  type ComponentConfig,
  connectRedis,
  type InstancePosition,
  type Recipe,
  type Redis,
  Registry,
} from '../src/index.js';
import { type Sandbox, sandbox, testPrefix } from './helpers/fixtures.js';
import { treeRecipe } from './helpers/tree-recipe.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const SYSTEM = '7300000000000000043';
const ORIGINAL = '/srv/pullback-test-nowhere/fast';
const OID = '16390';
const FILE = 'PG_15_202209061/5/16391';

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
  await mkdir(join(box.source, 'pg_tblspc', OID, 'PG_15_202209061', '5'), { recursive: true });
});

afterEach(async () => {
  await box?.remove();
});

/** docs, with docs-b's tablespaces configured to go under the sandbox. */
function configWithTablespaces(): ComponentConfig {
  const docs = box.config.components.docs!;
  return {
    ...docs,
    instances: docs.instances.map((instance) =>
      instance.name === 'docs-b'
        ? { ...instance, tablespaces: { [ORIGINAL]: join(box.root, 'b-fast') } }
        : instance,
    ),
  };
}

/** A database-like snapshot holding a tablespace, as a pull of a postgres export tags it. */
async function snapshotWithTablespace(rows: string): Promise<string> {
  await writeFile(join(box.source, 'status'), rows);
  await writeFile(join(box.source, 'pg_tblspc', OID, FILE), rows);
  const snapshot = await backupTree(box.archive, box.source, {
    tags: {
      component: 'docs',
      recipe: 'tree',
      kind: 'physical',
      systemIdentifier: SYSTEM,
      timeline: '1',
      startLsn: '0/2000028',
      endLsn: '0/2000100',
      tablespaces: JSON.stringify({ [OID]: ORIGINAL }),
    },
  });
  return snapshot.id;
}

const streaming: InstancePosition = {
  running: true,
  inRecovery: true,
  lsn: '0/3000000',
  timeline: 1,
  source: 'streaming',
  systemIdentifier: SYSTEM,
};

describe('applySnapshot of a snapshot with a tablespace', () => {
  it('seeds the fallback with the tablespace at its configured location; a drill puts it in its scratch', async () => {
    const seen: { link?: string; rows?: string } = {};
    const recipe: Recipe = {
      ...treeRecipe(),
      position: async () => streaming,
      async startAudit(input) {
        await input.restore(input.target);
        seen.link = await readlink(join(input.target, 'pg_tblspc', OID));
        seen.rows = await readFile(join(input.target, 'pg_tblspc', OID, FILE), 'utf8');
        return {
          kind: 'physical',
          port: input.port,
          dataDir: input.target,
          pid: undefined,
          connect: '',
          stopCommand: '',
          stop: async () => {},
        };
      },
    };
    const apply = (snapshotId: string) =>
      applySnapshot({
        component: 'docs',
        config: configWithTablespaces(),
        instance: 'docs-b',
        epoch: 1,
        snapshotId,
        archive: box.archive,
        recipe,
        registry,
      });

    const first = await snapshotWithTablespace('first\n');
    expect(await apply(first)).toMatchObject({ applied: true, followed: false });
    expect(await readlink(join(box.root, 'b', 'pg_tblspc', OID))).toBe(join(box.root, 'b-fast'));
    expect(await readFile(join(box.root, 'b-fast', FILE), 'utf8')).toBe('first\n');

    // Followed: not rewound, and the drill restores the tablespace beside its scratch directory.
    const second = await snapshotWithTablespace('second\n');
    expect(await apply(second)).toMatchObject({
      applied: true,
      followed: true,
      drill: { ran: true, ok: true },
    });
    const drill = join(box.root, `pullback-drill-${second.slice(0, 12)}`);
    expect(seen).toEqual({ link: `${drill}-tablespaces/${OID}`, rows: 'second\n' });
    expect((await readdir(box.root)).filter((name) => name.startsWith('pullback-drill'))).toEqual([]);
    expect(await readFile(join(box.root, 'b-fast', FILE), 'utf8')).toBe('first\n');
  });

  it('refuses to seed a fallback whose tablespace location is not empty, leaving it as it was', async () => {
    await mkdir(join(box.root, 'b-fast'), { recursive: true });
    await writeFile(join(box.root, 'b-fast', 'someone-else'), 'x');
    const first = await snapshotWithTablespace('first\n');
    await expect(
      applySnapshot({
        component: 'docs',
        config: configWithTablespaces(),
        instance: 'docs-b',
        epoch: 1,
        snapshotId: first,
        archive: box.archive,
        recipe: treeRecipe(),
        registry,
      }),
    ).rejects.toMatchObject({
      code: 'tablespace-location',
      message: `tablespace ${OID} cannot be restored at ${join(box.root, 'b-fast')}: it is not empty`,
    });
    expect(await readdir(join(box.root, 'b')).catch(() => [])).toEqual([]);
    // The fallback's location is at fault, not the snapshot.
    expect((await registry.snapshotHealth('docs'))[first]?.state).not.toBe('bad');
    expect((await registry.instance('docs-b'))?.state).toMatchObject({ healthy: false });
  });
});
