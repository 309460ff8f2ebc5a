import {
  appendFile,
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { pseudoRandom } from './make-tree.js';
import type { Change, Content, PlacedEntry, Segment, TreeSpec } from './property-tree.js';

const SLASH = Buffer.from('/');

function under(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

async function exists(path: Buffer): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Writes generated trees and changes them, names as bytes (paths are Buffers throughout). */
export class PropertyDisk {
  private readonly blocks: Buffer[];
  /** Relation files get names of their own: `base/<n>`. */
  private relations = 0;

  constructor(
    readonly root: string,
    spec: TreeSpec,
    private readonly seed: number,
  ) {
    this.blocks = spec.blocks.map((length, i) => pseudoRandom(seed * 31 + i, length));
  }

  /** Writes the tree's entries; one whose name is taken already is left out. */
  async create(spec: TreeSpec): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const dirs = [Buffer.from(this.root)];
    const files: Buffer[] = [];
    for (const entry of spec.entries) await this.place(entry, dirs, files);
  }

  private async place(entry: PlacedEntry, dirs: Buffer[], files: Buffer[]): Promise<void> {
    const parent = dirs[entry.dir % dirs.length]!;
    const spec = entry.spec;
    if (spec.kind === 'relation') {
      const base = under(parent, Buffer.from('base'));
      if (!(await exists(base))) await mkdir(base);
      else if (!(await lstat(base)).isDirectory()) return;
      const path = under(base, Buffer.from(String(16384 + this.relations++)));
      if (await exists(path)) return;
      await this.writeContent(path, spec.content);
      await chmod(path, spec.mode);
      files.push(path);
      return;
    }
    const path = under(parent, entry.name);
    if (await exists(path)) return;
    switch (spec.kind) {
      case 'file':
        await this.writeContent(path, spec.content);
        await chmod(path, spec.mode);
        if (spec.mtime !== undefined) await utimes(path, spec.mtime, spec.mtime + 0.25);
        files.push(path);
        return;
      case 'symlink':
        await symlink(spec.target, path);
        return;
      case 'hardlink': {
        const to = files[spec.to % Math.max(1, files.length)];
        if (to !== undefined) await link(to, path);
        return;
      }
      case 'dir':
        await mkdir(path);
        await chmod(path, spec.mode);
        dirs.push(path);
        return;
    }
  }

  /** The bytes of one segment; a hole reads as zeros (where it is written, it is skipped). */
  private bytes(segment: Segment): Buffer {
    switch (segment.kind) {
      case 'random':
        return pseudoRandom(this.seed + segment.seed * 7919, segment.length);
      case 'block': {
        const block = this.blocks[segment.block % this.blocks.length]!;
        return segment.reversed ? Buffer.from(block).reverse() : block;
      }
      case 'zeros':
      case 'hole':
        return Buffer.alloc(segment.length);
    }
  }

  /**
   * `content.pattern` repeated to `content.size`, holes left unwritten (a sparse file):
   * one buffer filled with the pattern, written in one piece, or run by run around holes.
   */
  private async writeContent(path: Buffer, content: Content): Promise<void> {
    const pieces = content.pattern.map((segment) => this.bytes(segment));
    const cycle = Buffer.concat(pieces);
    const data = Buffer.alloc(content.size);
    if (cycle.length > 0) data.fill(cycle);
    const handle = await open(path, 'w');
    try {
      if (!content.pattern.some((segment) => segment.kind === 'hole')) {
        await handle.write(data, 0, data.length, 0);
      } else {
        for (let at = 0, i = 0; at < content.size; i++) {
          const segment = content.pattern[i % content.pattern.length]!;
          const length = Math.min(pieces[i % pieces.length]!.length, content.size - at);
          if (segment.kind !== 'hole') await handle.write(data, at, length, at);
          at += length;
        }
      }
      await handle.truncate(content.size);
    } finally {
      await handle.close();
    }
  }

  /** Applies one change to what exists now; a change that cannot apply does nothing. */
  async apply(change: Change): Promise<void> {
    const all = await this.entries();
    const files = all.filter((e) => e.type === 'file').map((e) => e.path);
    const dirs = [Buffer.from(this.root), ...all.filter((e) => e.type === 'dir').map((e) => e.path)];
    const pickFile = (pick: number) => files[pick % Math.max(1, files.length)];
    switch (change.kind) {
      case 'insert':
      case 'delete': {
        const path = pickFile(change.pick);
        if (!path) return;
        const old = await readFile(path);
        const at = Math.floor(change.at * old.length);
        const next =
          change.kind === 'insert'
            ? Buffer.concat([old.subarray(0, at), this.bytes(change.data), old.subarray(at)])
            : Buffer.concat([old.subarray(0, at), old.subarray(at + change.length)]);
        // In place (same inode): hard links see the change, as they would.
        await writeFile(path, next);
        return;
      }
      case 'overwrite': {
        const path = pickFile(change.pick);
        if (!path) return;
        const size = (await lstat(path)).size;
        const handle = await open(path, 'r+');
        try {
          const data = this.bytes(change.data);
          await handle.write(data, 0, data.length, Math.floor(change.at * size));
        } finally {
          await handle.close();
        }
        return;
      }
      case 'truncate': {
        const path = pickFile(change.pick);
        if (path) await truncate(path, change.size);
        return;
      }
      case 'append': {
        const path = pickFile(change.pick);
        if (path) await appendFile(path, this.bytes(change.data));
        return;
      }
      case 'rename': {
        const entry = all[change.pick % Math.max(1, all.length)];
        if (!entry) return;
        const to = under(dirs[change.dir % dirs.length]!, change.name);
        // Into itself or over something: not a change this test makes.
        if (await exists(to)) return;
        await rename(entry.path, to).catch(() => {});
        return;
      }
      case 'create':
        await this.place(change.entry, dirs, files);
        return;
      case 'replace': {
        const entry = all[change.pick % Math.max(1, all.length)];
        if (!entry) return;
        const slash = entry.path.lastIndexOf(SLASH);
        await rm(entry.path, { recursive: true, force: true });
        const parent = entry.path.subarray(0, slash);
        // A hard link names a file that is still there.
        const inside = Buffer.concat([entry.path, SLASH]);
        const left = files.filter(
          (file) => !file.equals(entry.path) && !file.subarray(0, inside.length).equals(inside),
        );
        await this.place({ dir: 0, name: entry.path.subarray(slash + 1), spec: change.spec }, [parent], left);
        return;
      }
      case 'remove': {
        const entry = all[change.pick % Math.max(1, all.length)];
        if (entry) await rm(entry.path, { recursive: true, force: true });
        return;
      }
      case 'chmod': {
        const path = pickFile(change.pick);
        if (path) await chmod(path, change.mode);
        return;
      }
      case 'touch': {
        const entry = all[change.pick % Math.max(1, all.length)];
        if (entry && entry.type !== 'symlink') await utimes(entry.path, change.mtime, change.mtime + 0.5);
        return;
      }
    }
  }

  /** Every entry under the root (not the root), in walk order. */
  private async entries(): Promise<{ path: Buffer; type: 'dir' | 'file' | 'symlink' }[]> {
    const out: { path: Buffer; type: 'dir' | 'file' | 'symlink' }[] = [];
    const visit = async (dir: Buffer): Promise<void> => {
      for (const name of (await readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare)) {
        const path = under(dir, name);
        const stats = await lstat(path);
        const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file';
        out.push({ path, type });
        if (type === 'dir') await visit(path);
      }
    };
    await visit(Buffer.from(this.root));
    return out;
  }
}
