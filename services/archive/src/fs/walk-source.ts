import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { skipReason } from '../fs/skip-reason.js';
import { decodeFileName, nativePath } from '../snapshot/file-name.js';
import { compareNames } from '../snapshot/tree-entry.js';
import type { PageOverlay } from './page-overlay.js';

/** What a backup reads of an entry's status: `lstat`'s, or what a tar header says. */
export type SourceStats = Pick<
  BigIntStats,
  'isDirectory' | 'isFile' | 'isSymbolicLink' | 'mode' | 'mtimeNs' | 'ctimeNs' | 'uid' | 'gid' | 'size'
> &
  Partial<Pick<BigIntStats, 'nlink' | 'dev' | 'ino' | 'blocks'>>;

/** What a listing says of an entry that was not lstat'ed: a tar's member, a tree's entry. */
export interface ListedFields {
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly size: number;
}

/** The stats of a listed entry: no link count, device or inode (it is linked to nothing). */
export function listedStats(fields: ListedFields): SourceStats {
  return {
    isDirectory: () => fields.type === 'directory',
    isFile: () => fields.type === 'file',
    isSymbolicLink: () => fields.type === 'symlink',
    mode: BigInt(fields.mode),
    uid: BigInt(fields.uid),
    gid: BigInt(fields.gid),
    mtimeNs: fields.mtimeNs,
    ctimeNs: fields.ctimeNs,
    size: BigInt(fields.size),
  };
}

export interface SourceEntry {
  /** Relative to the root, `/`-separated, names decoded (`decodeFileName`); "" is the root. */
  readonly path: string;
  /** The file holding the entry's bytes, decoded: `nativePath` gives what `node:fs` takes. */
  readonly absolute: string;
  /**
   * Where the entry's bytes start in `absolute`, when it is a member of a container
   * (a tar) rather than a file of its own; it holds `stats.size` bytes from there.
   */
  readonly base?: number;
  readonly stats: SourceStats;
  /** Symlinks: the target's bytes, decoded. */
  readonly target?: string;
  /** A file given as its parent's with pages replaced: its bytes are not in `absolute`. */
  readonly overlay?: PageOverlay;
  /**
   * A file of which the source vouches that only these pages (block numbers of
   * `pageSize` bytes, increasing) changed since the backup's parent entry of the same
   * path; empty: nothing changed. The parent's content is taken and only the listed
   * pages are read, where they lie in `absolute`. Without a parent entry that can be
   * used so (none, another size with nothing changed, not stored as pages), the whole
   * file is read: the file itself is the truth, the list only spares reading it.
   */
  readonly changedPages?: Uint32Array;
}

/** Told of each entry left out of a walk, or whose contents were: its path and why. */
export type SkipListener = (path: string, why: string) => void;

/**
 * Walks a directory tree depth-first, each directory's names sorted, never following
 * symlinks: the order trees are stored in. Names are bytes, decoded losslessly, so
 * every name can be stored and found again. Entries that vanish or may not be read
 * while walking are left out and told to `onSkip`; `exclude` prunes a path and
 * everything under it.
 */
export async function* walkSource(
  root: string,
  exclude: (path: string) => boolean = () => false,
  signal?: AbortSignal,
  onSkip: SkipListener = () => {},
): AsyncGenerator<SourceEntry> {
  const rootStats = await lstat(nativePath(root), { bigint: true });
  yield { path: '', absolute: root, stats: rootStats };
  yield* walkDirectory(root, '', exclude, signal, onSkip);
}

async function* walkDirectory(
  absolute: string,
  relative: string,
  exclude: (path: string) => boolean,
  signal: AbortSignal | undefined,
  onSkip: SkipListener,
): AsyncGenerator<SourceEntry> {
  signal?.throwIfAborted();
  let names: string[];
  try {
    // Read as bytes: a name that is not UTF-8 would come back as a different string,
    // and the file it names could not be found again.
    names = (await readdir(nativePath(absolute), { encoding: 'buffer' })).map(decodeFileName);
  } catch (error) {
    // Gone, or replaced by a file, since it was listed; or closed to this user.
    const why = skipReason(error);
    if (why === undefined) throw error;
    onSkip(relative, `cannot list the directory (${why})`);
    return;
  }
  names.sort(compareNames);
  // lstat the whole directory at once: the latency of one call per file adds up.
  const stats = await Promise.all(
    names.map((name) =>
      lstat(nativePath(join(absolute, name)), { bigint: true }).catch((error: unknown) => {
        if (skipReason(error) === undefined) throw error;
        return error as NodeJS.ErrnoException;
      }),
    ),
  );
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const stat = stats[i]!;
    const path = relative === '' ? name : `${relative}/${name}`;
    if (exclude(path)) continue;
    if (stat instanceof Error) {
      onSkip(path, `cannot read its status (${skipReason(stat)})`);
      continue;
    }
    const child = join(absolute, name);
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = decodeFileName(await readlink(nativePath(child), { encoding: 'buffer' }));
      } catch (error) {
        const why = skipReason(error);
        if (why === undefined) throw error;
        onSkip(path, `cannot read the link (${why})`);
        continue;
      }
      yield { path, absolute: child, stats: stat, target };
    } else {
      yield { path, absolute: child, stats: stat };
      if (stat.isDirectory()) yield* walkDirectory(child, path, exclude, signal, onSkip);
    }
  }
}
