import { execFile } from 'node:child_process';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type PostgresServer, postgresOwner, scratchDir, startPostgres } from '@pullback/harness';
import type { AuditServer } from '@pullback/pipeline';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DumpedDatabase } from '../src/index.js';
import {
  conninfo,
  createScratchServer,
  type PgEndpoint,
  postgresRecipe,
  restoreLogical,
} from '../src/index.js';
import { extractTar } from './helpers/extract-tar.js';
import { outboxNames } from './helpers/outbox-names.js';
import { serverDir, stableDump } from './helpers/servers.js';

const execFileAsync = promisify(execFile);

const ODD_NAME = 'odd.name/é';

let active: PostgresServer;

beforeAll(async () => {
  active = await startPostgres();
  await active.psql('create role auditor login');
  await active.psql('create database shop owner auditor');
  await active.psql(`create database "${ODD_NAME}"`);
  await active.psql(
    `create table orders (id int primary key, customer text not null, total numeric(10,2));
     insert into orders select i, 'customer ' || (i % 97), i * 1.25 from generate_series(1, 50000) i;
     create index on orders (customer);
     create view big_orders as select * from orders where total > 1000;
     alter table orders owner to auditor;
     create table marker (status text); insert into marker values ('logical');`,
    'shop',
  );
  await active.psql(`create table t (x int); insert into t values (1), (2)`, ODD_NAME);
});

afterAll(async () => {
  await active?.stop();
});

/** A plain pg_dump of `database`, without the lines that differ between runs. */
async function plainDump(
  binDir: string,
  endpoint: PgEndpoint,
  database: string,
  as?: { uid: number; gid: number },
): Promise<string> {
  const { stdout } = await execFileAsync(join(binDir, 'pg_dump'), ['-d', conninfo(endpoint, database)], {
    maxBuffer: 256 * 1024 * 1024,
    cwd: '/',
    ...as,
  });
  return stableDump(stdout);
}

describe('logical export', () => {
  it('dumps every database and the globals, and restores them into a scratch server with the same contents', async () => {
    const outboxDir = await scratchDir('outbox');
    const target = await serverDir('scratch');
    const tree = join(target.path, 'tree');
    try {
      const outbox = openBackend(outboxDir.path);
      const started = Date.now();
      const manifest = await postgresRecipe({ partSize: 256 * 1024 }).export({
        component: 'shop',
        instance: { host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
        outbox,
        exportId: 'l1',
        kind: 'logical',
      });
      const exportMs = Date.now() - started;
      expect(manifest.kind).toBe('logical');
      const databases = manifest.details?.databases as DumpedDatabase[];
      expect(databases.map((d) => d.name).sort()).toEqual([ODD_NAME, 'postgres', 'shop'].sort());
      expect(await outboxNames(outbox)).toEqual(
        [...databases.map((d) => d.object), 'l1/globals.tar', 'l1/COMPLETE'].sort(),
      );
      expect(manifest.objects.map((o) => o.name).sort()).toEqual(
        [...databases.map((d) => d.object), 'l1/globals.tar'].sort(),
      );
      expect(manifest.server?.systemIdentifier).toBe(
        await active.psql('select system_identifier from pg_control_system()'),
      );

      // What the archive would restore: every object's members in one tree.
      const members: string[] = [];
      for (const object of manifest.objects)
        members.push(...(await extractTar(await outbox.load(object.name), tree)));
      // The shop dump is larger than a part, so it was cut.
      expect(members.filter((m) => m.startsWith('databases/shop.dump/')).length).toBeGreaterThan(1);
      expect(members).toContain('databases/odd%2Ename%2F%C3%A9.dump/000000');

      const restoreStarted = Date.now();
      const scratch = await createScratchServer({ dataDir: target.dataDir, port: await freePort() });
      try {
        const restored = await restoreLogical(tree, scratch);
        const restoreMs = Date.now() - restoreStarted;
        expect(restored.sort()).toEqual([ODD_NAME, 'postgres', 'shop'].sort());
        const owner = await postgresOwner();
        const activeEndpoint = { host: '127.0.0.1', port: active.port };
        for (const name of restored) {
          const original = await plainDump(active.binDir, activeEndpoint, name);
          const copy = await plainDump(active.binDir, scratch.endpoint, name, owner);
          expect(copy, `database ${name}`).toBe(original);
        }
        expect(await plainDump(active.binDir, scratch.endpoint, 'shop', owner)).toContain('logical');
        console.log(`logical: export ${exportMs} ms; scratch server + restore ${restoreMs} ms`);
      } finally {
        await scratch.stop();
      }
    } finally {
      await outboxDir.remove();
      await target.remove();
    }
  });
});

describe('a logical audit', () => {
  it('has its dumps restored under the target and replays them into a scratch server on the port', async () => {
    const outboxDir = await scratchDir('outbox');
    const target = await serverDir('audit');
    const recipe = postgresRecipe({ partSize: 256 * 1024 });
    let server: AuditServer | undefined;
    try {
      const outbox = openBackend(outboxDir.path);
      const manifest = await recipe.export({
        component: 'shop',
        instance: { host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
        outbox,
        exportId: 'a1',
        kind: 'logical',
      });
      const port = await freePort();
      const restoredInto: string[] = [];
      expect(recipe.startAudit).toBeDefined();
      server = await recipe.startAudit!({
        snapshotId: 'a1',
        snapshot: { component: 'shop', recipe: 'postgres', kind: 'logical' },
        target: target.path,
        port,
        // What the archive's restore would write: every object's members in one tree.
        restore: async (directory) => {
          restoredInto.push(directory);
          for (const object of manifest.objects) await extractTar(await outbox.load(object.name), directory);
        },
      });
      expect(restoredInto).toEqual([join(target.path, 'dumps')]);
      expect(server).toMatchObject({ kind: 'logical', port, dataDir: join(target.path, 'pgdata') });
      expect([...(server.databases ?? [])].sort()).toEqual([ODD_NAME, 'postgres', 'shop'].sort());
      expect(await recipe.localServers?.status(server.dataDir)).toEqual({ running: true, pid: server.pid });
      await server.stop();
      expect(await recipe.localServers?.status(server.dataDir)).toEqual({ running: false });
    } finally {
      await server?.stop().catch(() => {});
      await outboxDir.remove();
      await target.remove();
    }
  });
});

describe('a logical export of named databases', () => {
  it('dumps only those; one that is not there fails the export in one line and leaves nothing', async () => {
    const outboxDir = await scratchDir('outbox');
    try {
      const outbox = openBackend(outboxDir.path);
      const recipe = postgresRecipe();
      const instance = { host: '127.0.0.1', port: active.port, dataDir: active.dataDir };
      const manifest = await recipe.export({
        component: 'shop',
        instance,
        outbox,
        exportId: 'n1',
        kind: 'logical',
        databases: ['shop', ODD_NAME],
      });
      const databases = manifest.details?.databases as DumpedDatabase[];
      expect(databases.map((d) => d.name).sort()).toEqual([ODD_NAME, 'shop'].sort());

      await expect(
        recipe.export({
          component: 'shop',
          instance,
          outbox,
          exportId: 'n2',
          kind: 'logical',
          databases: ['shop', 'nope'],
        }),
      ).rejects.toThrow(
        /^export n2 of shop: 127\.0\.0\.1:\d+ has no database "nope" to dump \(or it takes no connections\)$/,
      );
      expect((await outboxNames(outbox)).filter((name) => name.startsWith('n2/'))).toEqual([]);
    } finally {
      await outboxDir.remove();
    }
  });
});

describe('what proves a logical snapshot', () => {
  it('a restore whose server lacks a database the snapshot names is refused', async () => {
    const outboxDir = await scratchDir('outbox');
    const target = await serverDir('audit-missing');
    const recipe = postgresRecipe();
    try {
      const outbox = openBackend(outboxDir.path);
      const manifest = await recipe.export({
        component: 'shop',
        instance: { host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
        outbox,
        exportId: 'm1',
        kind: 'logical',
        databases: ['shop'],
      });
      const port = await freePort();
      await expect(
        recipe.startAudit!({
          snapshotId: 'm1',
          snapshot: { component: 'shop', recipe: 'postgres', kind: 'logical' },
          target: target.path,
          port,
          // A damaged tree: the dump of shop under another database's name.
          restore: async (directory) => {
            for (const object of manifest.objects)
              await extractTar(await outbox.load(object.name), directory);
            await rename(
              join(directory, 'databases', 'shop.dump'),
              join(directory, 'databases', 'gone.dump'),
            );
          },
        }),
      ).rejects.toThrow(`the scratch server on port ${port} lacks database "gone" after the restore`);
      expect(await recipe.localServers?.status(join(target.path, 'pgdata'))).toEqual({ running: false });
    } finally {
      await outboxDir.remove();
      await target.remove();
    }
  });
});
