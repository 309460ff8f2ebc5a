import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type Archive, initArchive } from '@pullback/archive';
import { quietSchedule, scratchDir } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { type Config, parseConfig } from '../../src/index.js';

/** A fresh key prefix per test, so tests share one redis-server and never meet. */
export function testPrefix(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

export interface Sandbox {
  readonly root: string;
  readonly archive: Archive;
  readonly outbox: Backend;
  readonly outboxDir: string;
  readonly stagingDir: string;
  readonly source: string;
  readonly config: Config;
  remove(): Promise<void>;
}

/**
 * A temp directory with an archive (fs, key file), an outbox and a staging
 * directory, and a config with one `tree` component (recipe files, so it has a
 * path) backing up `source`, with fallbacks `docs-b` and `docs-c` restoring into
 * `root/b` and `root/c`. Its schedule does not fire during a test (`quietSchedule`).
 */
export async function sandbox(redisUrl: string, extra = ''): Promise<Sandbox> {
  const scratch = await scratchDir('pipeline');
  const root = scratch.path;
  const { archive } = await initArchive({
    archive: join(root, 'archive'),
    keyFile: join(root, 'archive.key'),
  });
  const outboxDir = join(root, 'outbox');
  const config = parseConfig(`
redis: ${redisUrl}
archive: { url: ${join(root, 'archive')}, keyFile: ${join(root, 'archive.key')} }
components:
  docs:
    recipe: files
    path: ${join(root, 'source')}
    outbox: ${outboxDir}
    schedule: "${quietSchedule()}"
    instances:
      - { name: docs-a, role: active, host: 127.0.0.1, port: 1, dataDir: ${join(root, 'a')}, priority: 0 }
      - { name: docs-b, role: fallback, host: 127.0.0.1, port: 2, dataDir: ${join(root, 'b')}, priority: 10 }
      - { name: docs-c, role: fallback, host: 127.0.0.1, port: 3, dataDir: ${join(root, 'c')}, priority: 5 }
${extra}`);
  return {
    root,
    archive,
    outbox: openBackend(outboxDir),
    outboxDir,
    stagingDir: join(root, 'staging'),
    source: join(root, 'source'),
    config,
    remove: scratch.remove,
  };
}
