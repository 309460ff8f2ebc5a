import { join } from 'node:path';
import type { TreeEntry } from '../snapshot/tree-entry.js';

/**
 * Subtrees of a snapshot restored outside the target: tree path `P` (a directory) and
 * everything under it go under the absolute directory `D` instead of `<target>/P`
 * (PostgreSQL tablespaces: `pg_tblspc/<oid>` restored at the tablespace's location).
 * What stands at `<target>/P` is left to the caller (a symlink to `D`).
 */
export type Relocations = Readonly<Record<string, string>>;

/** Where entries of the tree go: the target, or a relocated subtree's directory. */
export class Placement {
  private readonly moved: readonly (readonly [string, string])[];

  constructor(
    private readonly target: string,
    relocations: Relocations = {},
  ) {
    this.moved = Object.entries(relocations);
  }

  /** The relocated subtrees: tree path and directory. */
  get relocations(): readonly (readonly [string, string])[] {
    return this.moved;
  }

  /** The absolute path of tree path `path`. */
  of(path: string): string {
    if (path === '') return this.target;
    for (const [root, directory] of this.moved) {
      if (path === root) return directory;
      if (path.startsWith(`${root}/`)) return join(directory, path.slice(root.length + 1));
    }
    return join(this.target, path);
  }

  /** The relocated subtree `path` lies in (or is), if any. */
  rootOf(path: string): string | undefined {
    for (const [root] of this.moved) {
      if (path === root || path.startsWith(`${root}/`)) return root;
    }
    return undefined;
  }
}

/** The entries under `root` (itself as ""), paths relative to it: a relocated subtree as a tree of its own. */
export async function* subtree(tree: AsyncGenerator<TreeEntry>, root: string): AsyncGenerator<TreeEntry> {
  for await (const entry of tree) {
    if (entry.path === root) yield { ...entry, path: '' };
    else if (entry.path.startsWith(`${root}/`)) yield { ...entry, path: entry.path.slice(root.length + 1) };
  }
}
