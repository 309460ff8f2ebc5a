import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { conninfo, describeEndpoint } from './connection.js';
import { decodeDatabaseName } from './database-names.js';
import { DATABASES_DIR, GLOBALS_MEMBER } from './export-logical.js';
import { feedTool } from './feed-tool.js';
import { joinParts } from './parts-tar.js';
import type { ScratchServer } from './scratch-server.js';
import { pgTool } from './tools.js';

/** Errors the globals may raise on any fresh cluster: its bootstrap superuser exists already. */
const EXPECTED_GLOBALS_ERRORS = /ERROR:\s+role ".*" already exists/;

/**
 * Restores a logical snapshot (the tree its artifact's tars hold: `globals.sql/`
 * and `databases/<name>.dump/`, each cut into parts) into a scratch server: the
 * globals first (roles own the objects), then each database with `pg_restore
 * --create --clean`, so each comes back with its own properties. Streams the parts;
 * nothing is held whole. Returns the databases restored.
 */
export async function restoreLogical(
  tree: string,
  server: ScratchServer,
  options: { binDir?: string; signal?: AbortSignal } = {},
): Promise<string[]> {
  const run = { as: server.account, ...(options.signal === undefined ? {} : { signal: options.signal }) };
  const where = describeEndpoint(server.endpoint);
  const errors = await feedTool(
    `psql of ${GLOBALS_MEMBER} into ${where}`,
    [
      await pgTool('psql', options.binDir),
      '-X',
      '-q',
      '--no-password',
      '-d',
      conninfo(server.endpoint, 'postgres'),
      '-f',
      '-',
    ],
    await joinParts(join(tree, GLOBALS_MEMBER)),
    run,
  );
  const unexpected = errors.filter((line) => !EXPECTED_GLOBALS_ERRORS.test(line));
  if (unexpected.length > 0) {
    throw new Error(`restoring ${GLOBALS_MEMBER} into ${where} failed: ${unexpected[0]}`);
  }

  const restored: string[] = [];
  const dumpsDir = join(tree, DATABASES_DIR);
  const dumps: string[] = [];
  for await (const entry of await opendir(dumpsDir)) {
    if (entry.isDirectory() && entry.name.endsWith('.dump')) dumps.push(entry.name);
  }
  for (const dump of dumps.sort()) {
    const name = decodeDatabaseName(dump.slice(0, -'.dump'.length));
    await feedTool(
      `pg_restore of database ${JSON.stringify(name)} into ${where}`,
      [
        await pgTool('pg_restore', options.binDir),
        '--format=custom',
        '--create',
        '--clean',
        '--if-exists',
        '--exit-on-error',
        '--no-password',
        '--dbname',
        conninfo(server.endpoint, 'template1'),
      ],
      await joinParts(join(dumpsDir, dump)),
      run,
    );
    restored.push(name);
  }
  return restored;
}
