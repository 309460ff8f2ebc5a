import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, initArchive } from '@pullback/archive';
import { type PostgresServer, quietSchedule, scratchDir, startPostgres } from '@pullback/harness';
import { type Config, parseConfig } from '@pullback/pipeline';
import { type Backend, openBackend } from '@pullback/storage';

const execFileAsync = promisify(execFile);

/** A cluster with pgbench's tables at `scale` and amcheck, where the backup tests start. */
export async function pgbenchServer(scale: number): Promise<PostgresServer> {
  const server = await startPostgres();
  await execFileAsync(join(server.binDir, 'pgbench'), [
    '-i',
    '-s',
    String(scale),
    '-q',
    '-d',
    server.connectionString(),
  ]);
  await server.psql('create extension amcheck');
  return server;
}

/** An archive and an fs outbox, and the config of component `shop` that backs `active` up with its own backup. */
export interface ShopSandbox {
  readonly scratch: { readonly path: string; remove(): Promise<void> };
  readonly archive: Archive;
  readonly outbox: Backend;
  readonly config: Config;
}

export async function shopSandbox(active: PostgresServer, label: string): Promise<ShopSandbox> {
  const scratch = await scratchDir(label);
  const { archive } = await initArchive({
    archive: join(scratch.path, 'archive'),
    keyFile: join(scratch.path, 'key'),
  });
  const config = parseConfig(`
redis: redis://127.0.0.1:1
archive: { url: ${join(scratch.path, 'archive')}, keyFile: ${join(scratch.path, 'key')} }
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    schedule: "${quietSchedule()}"
    physical: { ownBackup: true }
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 0 }
`);
  return { scratch, archive, outbox: openBackend(join(scratch.path, 'outbox')), config };
}
