import { ArchiveError } from '../errors.js';

/**
 * A file's content. `small`: the whole file is `size` bytes at `offset` in a bundle
 * blob, and `hash` is the keyed hash of the file. `chunks`: content-defined chunks,
 * each a whole blob, in order. `chunkMaps`: the same list, kept in chunk map blobs when
 * it is long. `pages`: a relation file, one page map blob per region.
 */
export type FileContent =
  | { readonly small: { readonly blob: string; readonly offset: number; readonly hash: string } }
  | { readonly chunks: readonly (readonly [id: string, length: number])[] }
  | { readonly chunkMaps: readonly string[] }
  | { readonly pages: readonly string[] };

/** One line of a tree blob. Paths are relative to the snapshot root; the root is "". */
export interface TreeEntry {
  readonly path: string;
  /** `hardlink`: another name of the earlier file entry at `target` (same inode). */
  readonly type: 'dir' | 'file' | 'symlink' | 'hardlink';
  /** Permission bits, including setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string. */
  readonly mtime: string;
  /** Change time, nanoseconds: only used to decide whether a file may be unchanged. */
  readonly ctime?: string;
  readonly uid: number;
  readonly gid: number;
  /** Files: the size in bytes. */
  readonly size?: number;
  /**
   * Symlinks: the target, exactly as read (never followed). Hard links: the path of
   * the earlier file entry they are another name of.
   */
  readonly target?: string;
  /** Files with other names (st_nlink > 1): how many it had; later names in the tree are `hardlink` entries. */
  readonly nlink?: number;
  /** Files with at least one byte. */
  readonly content?: FileContent;
}

/**
 * Orders paths as a depth-first walk with each directory's names sorted: component by
 * component, so "a" < "a/b" < "a b". Trees are stored in this order, which lets a
 * backup walk the parent snapshot's tree in step with the disk.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  const as = a === '' ? [] : a.split('/');
  const bs = b === '' ? [] : b.split('/');
  const n = Math.min(as.length, bs.length);
  for (let i = 0; i < n; i++) {
    const x = as[i]!;
    const y = bs[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

export function compareNames(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * Checks a tree read back from the archive before anything acts on it: paths are
 * relative with no empty, "." or ".." component and no NUL, entries come in strictly
 * increasing order, and every entry's parent is a directory entry seen before it (so a
 * symlink restored earlier can never be walked through). Throws `unsafe-path`.
 */
export class TreeValidator {
  private previous: string | undefined;
  private readonly dirs: string[] = [];
  /** Files with other names: what a hard link may point at (one per linked inode). */
  private readonly linkable = new Set<string>();

  check(entry: TreeEntry, snapshot: string): void {
    const why = this.problem(entry);
    if (why !== undefined) {
      throw new ArchiveError('unsafe-path', `snapshot ${snapshot}: ${why}: ${JSON.stringify(entry.path)}`);
    }
  }

  /** Why `entry` cannot come next in a tree, or undefined (it is then taken as seen). */
  problem(entry: TreeEntry): string | undefined {
    const path = entry.path;
    if (typeof path !== 'string') return 'entry without a path';
    if (this.previous === undefined) {
      if (path !== '' || entry.type !== 'dir') return 'tree does not start with its root directory';
      this.previous = path;
      this.dirs.push('');
      return undefined;
    }
    if (path === '' || path.startsWith('/') || path.includes('\0')) return 'unsafe path';
    const parts = path.split('/');
    for (const part of parts) if (part === '' || part === '.' || part === '..') return 'unsafe path';
    if (comparePaths(this.previous, path) >= 0) return 'tree out of order';
    this.previous = path;
    const parent = parts.slice(0, -1).join('/');
    while (this.dirs.length > 0 && this.dirs[this.dirs.length - 1] !== parent) this.dirs.pop();
    if (this.dirs.length === 0) return 'parent directory missing';
    if (entry.type === 'dir') this.dirs.push(path);
    else if (entry.type !== 'file' && entry.type !== 'symlink' && entry.type !== 'hardlink')
      return `unknown type ${String(entry.type)}`;
    if (entry.type === 'symlink' && typeof entry.target !== 'string') return 'symlink without target';
    // A hard link names an earlier file entry, never a path of its own choosing: linking
    // through a symlink could reach a file outside the target.
    if (entry.type === 'file' && typeof entry.nlink === 'number' && entry.nlink > 1) this.linkable.add(path);
    if (entry.type === 'hardlink' && !(typeof entry.target === 'string' && this.linkable.has(entry.target))) {
      return 'hard link to no earlier linked file';
    }
    return undefined;
  }
}
