import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresRecipe } from '../src/index.js';
import { watchRss } from './helpers/rss-watch.js';

const execFileAsync = promisify(execFile);

/** Far below the ~300 MB exported: a buffered export could not stay under it. */
const MAX_RSS_GROWTH = 64 * 1024 * 1024;

let active: PostgresServer;
let outboxDir: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  active = await startPostgres();
  // Scale 20 is about 300 MB; server-side generation, no vacuum or keys, to keep it quick.
  await execFileAsync(join(active.binDir, 'pgbench'), [
    '-i',
    '-s',
    '20',
    '-I',
    'dtG',
    '-q',
    '-d',
    active.connectionString(),
  ]);
  outboxDir = await scratchDir('outbox');
});

afterAll(async () => {
  await active?.stop();
  await outboxDir?.remove();
});

describe('memory', () => {
  for (const kind of ['physical', 'logical'] as const) {
    it(`a ${kind} export of ~300 MB streams: resident memory grows by far less than the data`, async () => {
      const outbox = openBackend(outboxDir.path);
      global.gc?.();
      const rss = watchRss();
      const started = Date.now();
      const manifest = await postgresRecipe().export({
        component: 'shop',
        instance: { host: '127.0.0.1', port: active.port, dataDir: active.dataDir },
        outbox,
        exportId: kind,
        kind,
      });
      const ms = Date.now() - started;
      const growth = rss.stop();
      const bytes = manifest.objects.reduce((sum, object) => sum + object.size, 0);
      console.log(
        `${kind}: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${ms} ms (${(bytes / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s), rss growth ${(growth / 2 ** 20).toFixed(1)} MiB`,
      );
      // The dump holds no indexes and no free space, so it is smaller than the files.
      expect(bytes).toBeGreaterThan((kind === 'physical' ? 250 : 150) * 1024 * 1024);
      expect(growth).toBeLessThan(MAX_RSS_GROWTH);
    });
  }
});
