import { posix } from 'node:path';
import { comparePaths, listedStats, type SourceEntry, unrestorableName } from '@pullback/archive';
import { corruptArtifact } from './check.js';
import type { ArtifactManifest } from './format.js';
import { TarFormatError } from './tar-header.js';
import { scanTar } from './tar-scan.js';

/** A tar of the artifact, as a local file. */
export interface ArtifactTar {
  readonly file: string;
  /** The object's name, for messages. */
  readonly name: string;
  /** The tree path its members go under (`ArtifactObject.root`); default: the tree's root. */
  readonly root?: string;
}

const isRoot = process.getuid?.() === 0;

interface Node {
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly size: number;
  readonly file?: string;
  readonly base?: number;
  readonly target?: string;
  /** The member's name as the tar has it, for messages; none for an implied directory. */
  readonly member?: string;
}

/**
 * The tree an artifact's tars hold, as entries for `backupTree` in tree order, each
 * file a slice of its tar: what unpacking them in COMPLETE's order would give, without
 * writing a byte. The rules of unpacking hold: a member's path stays inside the tree
 * (no absolute path, no `..`, nothing under a symlink or a file member), a later
 * member replaces an earlier one (never a directory with a file), a hard link is its
 * target's bytes, directories a member implies exist, and only files, directories and
 * links are allowed. What no filesystem could hold (a name over 255 bytes, a symlink
 * to nothing) is refused too. Anything else fails with `corrupt-artifact`, naming the
 * member, before anything is stored; `signal` stops the reading between headers.
 *
 * Owners are the header's when running as root, else this process's, as unpacking
 * would leave them. The ctime of every entry is now: a tar has none, and a file must
 * never be taken as unchanged from its parent on size and a whole-second mtime alone.
 */
export async function artifactTree(
  manifest: ArtifactManifest,
  tars: readonly ArtifactTar[],
  signal?: AbortSignal,
): Promise<SourceEntry[]> {
  const nodes = new Map<string, Node>();
  const owner = (uid: number, gid: number) =>
    isRoot ? { uid, gid } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const now = BigInt(Date.now()) * 1_000_000n;
  const implied: Node = { type: 'directory', mode: 0o755, ...owner(0, 0), mtimeNs: now, size: 0 };
  const roots = tars.flatMap((tar) =>
    tar.root === undefined ? [] : [safePath(manifest, tar.root, new Map()) || rootless(manifest, tar)],
  );
  const underRoot = (path: string) => roots.some((root) => path === root || path.startsWith(`${root}/`));
  for (const tar of tars) {
    const root = tar.root === undefined ? '' : safePath(manifest, tar.root, new Map());
    try {
      for await (const member of scanTar(tar.file, signal)) {
        // A subtree's tar names its members from its root; another object's members
        // there (pg_basebackup's symlink pg_tblspc/<oid> in base.tar) give way to it.
        let path: string;
        if (root === '') {
          if (roots.length > 0 && underRoot(safePath(manifest, member.name, new Map()))) continue;
          path = safePath(manifest, member.name, nodes);
        } else {
          path = safePath(manifest, `${root}/${safePath(manifest, member.name, new Map())}`, nodes);
        }
        if (path === '') continue;
        const common = {
          mode: member.mode & 0o7777,
          ...owner(member.uid, member.gid),
          mtimeNs: member.mtimeNs,
          member: member.name,
        };
        let node: Node;
        if (member.type === 'file') {
          node = { type: 'file', ...common, size: member.size, file: tar.file, base: member.dataOffset };
        } else if (member.type === 'directory') {
          node = { type: 'directory', ...common, size: 0 };
        } else if (member.type === 'symlink') {
          node = { type: 'symlink', ...common, size: 0, target: member.linkname };
        } else if (member.type === 'link') {
          const linked = safePath(manifest, member.linkname, new Map());
          const target = nodes.get(root === '' || linked === '' ? linked : `${root}/${linked}`);
          if (target?.type !== 'file') {
            throw corruptArtifact(
              manifest,
              `member ${member.name} links to ${member.linkname}, which is no file`,
            );
          }
          node = { ...target, member: member.name };
        } else {
          throw corruptArtifact(
            manifest,
            `member ${member.name} is of tar type ${JSON.stringify(member.flag)}, which a snapshot cannot hold`,
          );
        }
        const existing = nodes.get(path);
        if (existing?.type === 'directory' && node.type !== 'directory') {
          throw corruptArtifact(manifest, `member ${JSON.stringify(member.name)} would replace a directory`);
        }
        const unrestorable = unrestorableName(path, node.target);
        if (unrestorable !== undefined) {
          throw corruptArtifact(manifest, `member ${JSON.stringify(member.name)} ${phrase(unrestorable)}`);
        }
        nodes.set(path, node);
        // Its directories exist from now on: a later file there would replace one.
        for (let parent = posix.dirname(path); parent !== '.' && !nodes.has(parent); ) {
          nodes.set(parent, implied);
          parent = posix.dirname(parent);
        }
      }
    } catch (error) {
      if (error instanceof TarFormatError) {
        throw corruptArtifact(manifest, `${tar.name} is not a valid tar: ${error.message}`);
      }
      throw error;
    }
  }
  // The root is the staging directory unpacking would have made (mode 0700).
  nodes.set('', { ...implied, mode: 0o700 });
  return entriesOf(nodes, now);
}

/** A `root` that names the tree's root is no subtree. */
function rootless(manifest: ArtifactManifest, tar: ArtifactTar): never {
  throw corruptArtifact(manifest, `${tar.name} has the tree's root as its root`);
}

/** `unrestorableName`'s reason, as said of a member. */
function phrase(reason: string): string {
  return reason.startsWith('symlink') ? `is a ${reason}` : `has a ${reason}: no filesystem can hold it`;
}

/** The entries, sorted. */
function entriesOf(nodes: Map<string, Node>, now: bigint): SourceEntry[] {
  const paths = [...nodes.keys()].sort(comparePaths);
  return paths.map((path) => {
    const node = nodes.get(path)!;
    return {
      path,
      absolute: node.file ?? '',
      ...(node.base === undefined ? {} : { base: node.base }),
      stats: listedStats({ ...node, ctimeNs: now }),
      ...(node.target === undefined ? {} : { target: node.target }),
    };
  });
}

/** The member's path relative to the root, or `corrupt-artifact` when it would leave it. */
function safePath(manifest: ArtifactManifest, name: string, nodes: ReadonlyMap<string, Node>): string {
  const normal = posix.normalize(name.replace(/\/+$/, ''));
  if (normal === '.' || normal === '') return '';
  if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../') || normal.includes('\0')) {
    throw corruptArtifact(
      manifest,
      `member ${JSON.stringify(name)} would be written outside the snapshot's tree`,
    );
  }
  for (let parent = posix.dirname(normal); parent !== '.'; parent = posix.dirname(parent)) {
    const node = nodes.get(parent);
    if (node?.type === 'symlink') {
      throw corruptArtifact(manifest, `member ${JSON.stringify(name)} lies under the symlink ${parent}`);
    }
    if (node?.type === 'file') {
      throw corruptArtifact(
        manifest,
        `member ${JSON.stringify(name)} lies under member ${JSON.stringify(node.member)}, which is no directory`,
      );
    }
  }
  return normal;
}
