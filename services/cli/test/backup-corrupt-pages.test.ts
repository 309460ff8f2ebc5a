import { chmod, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initArchive } from '@pullback/archive';
import { type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;

beforeAll(async () => {
  [active, scratch] = await Promise.all([startPostgres(), scratchDir('cli-corrupt-pages')]);
  const root = scratch.path;
  await chmod(root, 0o755);
  await initArchive({ archive: join(root, 'archive'), keyFile: join(root, 'archive.key') });
  configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: redis://127.0.0.1:1
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    physical: { ownBackup: true }
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
`,
  );
});

afterAll(async () => {
  await active?.stop();
  await scratch?.remove();
});

describe('backup <component> on a cluster with data checksums', () => {
  it('names each page whose checksum is wrong, and still makes the snapshot and exits 0', {
    timeout: 60_000,
  }, async () => {
    await active.psql(
      'create table damaged as select g, repeat($$x$$, 500) as filler from generate_series(1, 500) g',
    );
    await active.psql('checkpoint');
    const relative = await active.psql(`select pg_relation_filepath('damaged')`);
    const handle = await open(join(active.dataDir, relative), 'r+');
    try {
      // A byte in the tuples of block 2, not in its header.
      await handle.write(Buffer.from([0xa5]), 0, 1, 2 * 8192 + 5000);
    } finally {
      await handle.close();
    }
    const result = await runCli(['backup', 'shop', '--config', configPath], { timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    const id = /^snapshot ([0-9a-f]{12}) of shop \(physical\)/.exec(result.stdout)?.[1];
    expect(id).toBeDefined();
    expect(result.errorLines).toEqual([
      `pullback: warning: 1 page failed the data checksum, in snapshot ${id}: ${relative} block 2`,
    ]);
  });
});
