import { access, constants, readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The first executable named `name` on PATH or in `extraDirs`; a clear error when none. */
export async function findExecutable(name: string, extraDirs: readonly string[] = []): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  throw new Error(`${name} not found on PATH or in ${extraDirs.join(', ')}; run the README's setup`);
}

/**
 * PostgreSQL's server binaries live in /usr/lib/postgresql/<major>/bin on Debian and
 * are not on PATH; pick the newest major installed.
 */
export async function postgresBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const majors = (await readdir(root).catch(() => []))
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const dir = join(root, major, 'bin');
    if (await isExecutable(join(dir, 'postgres'))) return dir;
  }
  throw new Error(
    `no PostgreSQL server found under ${root}; run the README's setup (apt-get install postgresql)`,
  );
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}
