import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The PostgreSQL programs a recipe runs. */
export type PgTool =
  | 'initdb'
  | 'pg_basebackup'
  | 'pg_controldata'
  | 'pg_ctl'
  | 'pg_dump'
  | 'pg_dumpall'
  | 'pg_restore'
  | 'pg_rewind'
  | 'pg_receivewal'
  | 'pg_verifybackup'
  | 'pg_waldump'
  | 'psql';

const cache = new Map<string, Promise<string>>();

/**
 * Where PostgreSQL's programs are: `binDir` when given, else `PULLBACK_PG_BINDIR`, else
 * the newest /usr/lib/postgresql/<major>/bin (Debian keeps pg_ctl and initdb off PATH;
 * the newest client dumps and backs up every older server), else PATH.
 */
export function pgBinDir(binDir?: string): Promise<string> {
  const key = binDir ?? process.env.PULLBACK_PG_BINDIR ?? '';
  let found = cache.get(key);
  if (found === undefined) {
    found = key === '' ? newestDebianBinDir() : Promise.resolve(key);
    cache.set(key, found);
  }
  return found;
}

/** The full path of `tool`, or its bare name (found on PATH) when no bin dir is known. */
export async function pgTool(tool: PgTool, binDir?: string): Promise<string> {
  const dir = await pgBinDir(binDir);
  return dir === '' ? tool : join(dir, tool);
}

async function newestDebianBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const majors = (await readdir(root).catch(() => []))
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const dir = join(root, major, 'bin');
    const usable = await access(join(dir, 'pg_ctl'), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (usable) return dir;
  }
  return '';
}
