import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { compareNames } from '../snapshot/tree-entry.js';

/** What a backup reads of an entry's status: `lstat`'s, or what a tar header says. */
export type SourceStats = Pick<
  BigIntStats,
  'isDirectory' | 'isFile' | 'isSymbolicLink' | 'mode' | 'mtimeNs' | 'ctimeNs' | 'uid' | 'gid' | 'size'
>;

export interface SourceEntry {
  /** Relative to the root, `/`-separated; "" is the root. */
  readonly path: string;
  /** The file holding the entry's bytes. */
  readonly absolute: string;
  /**
   * Where the entry's bytes start in `absolute`, when it is a member of a container
   * (a tar) rather than a file of its own; it holds `stats.size` bytes from there.
   */
  readonly base?: number;
  readonly stats: SourceStats;
  readonly target?: string;
}

/**
 * Walks a directory tree depth-first, each directory's names sorted, never following
 * symlinks: the order trees are stored in. Entries that vanish while walking are
 * skipped; `exclude` prunes a path and everything under it.
 */
export async function* walkSource(
  root: string,
  exclude: (path: string) => boolean = () => false,
  signal?: AbortSignal,
  onUnreadableName: (directory: string, name: Buffer) => void = () => {},
): AsyncGenerator<SourceEntry> {
  const rootStats = await lstat(root, { bigint: true });
  yield { path: '', absolute: root, stats: rootStats };
  yield* walkDirectory(root, '', exclude, signal, onUnreadableName);
}

async function* walkDirectory(
  absolute: string,
  relative: string,
  exclude: (path: string) => boolean,
  signal: AbortSignal | undefined,
  onUnreadableName: (directory: string, name: Buffer) => void,
): AsyncGenerator<SourceEntry> {
  signal?.throwIfAborted();
  let names: string[];
  try {
    // Read as bytes: a name that is not UTF-8 would come back as a different string,
    // and the file it names could not be found again.
    names = [];
    for (const raw of await readdir(absolute, { encoding: 'buffer' })) {
      const name = raw.toString('utf8');
      if (Buffer.from(name, 'utf8').equals(raw)) names.push(name);
      else onUnreadableName(relative, raw);
    }
  } catch (error) {
    // Gone, or replaced by a file, since it was listed.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  names.sort(compareNames);
  // lstat the whole directory at once: the latency of one call per file adds up.
  const stats = await Promise.all(
    names.map((name) =>
      lstat(join(absolute, name), { bigint: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      }),
    ),
  );
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const stat = stats[i];
    const path = relative === '' ? name : `${relative}/${name}`;
    if (!stat || exclude(path)) continue;
    const child = join(absolute, name);
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(child);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      yield { path, absolute: child, stats: stat, target };
    } else {
      yield { path, absolute: child, stats: stat };
      if (stat.isDirectory()) yield* walkDirectory(child, path, exclude, signal, onUnreadableName);
    }
  }
}
