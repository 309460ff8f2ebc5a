import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let active: PostgresServer;
let scratch: { path: string; remove(): Promise<void> };
let configPath: string;

beforeAll(async () => {
  [active, scratch] = await Promise.all([startPostgres(), scratchDir('cli-restore-start-port')]);
  const root = scratch.path;
  configPath = join(root, 'pullback.yaml');
  await writeFile(
    configPath,
    `redis: redis://127.0.0.1:6379
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(root, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100 }
`,
  );
  expect((await runCli(['archive', 'init', '--config', configPath])).code).toBe(0);
  const backup = await runCli(['backup', 'shop', '--config', configPath]);
  expect(backup.stderr).toBe('');
}, 120_000);

afterAll(async () => {
  await active?.stop();
  await scratch?.remove();
});

// A port already taken is found before the restore, not after writing the whole cluster.
describe('restore --start on a port in use', () => {
  it('says so in one line and writes nothing', { timeout: 90_000 }, async () => {
    const target = join(scratch.path, 'audit');
    const result = await runCli([
      'restore',
      'latest',
      '--component',
      'shop',
      '--target',
      target,
      '--start',
      '--port',
      String(active.port),
      '--config',
      configPath,
    ]);
    expect(result.code).toBe(1);
    expect(result.errorLines).toEqual([
      `pullback: port ${active.port} is in use on 127.0.0.1; HINT: choose another --port`,
    ]);
    await expect(access(target)).rejects.toThrow();
  });
});
