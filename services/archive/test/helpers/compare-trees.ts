import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeFacts {
  readonly type: 'dir' | 'file' | 'symlink' | 'other';
  readonly mode: number;
  /** Microseconds: what a restore can set through utimes(2) from Node. */
  readonly mtimeUs: bigint;
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every entry under `root` (relative path → facts), symlinks never followed. */
export async function describeTree(root: string, withRoot = true): Promise<Map<string, TreeFacts>> {
  const out = new Map<string, TreeFacts>();
  const visit = async (relative: string) => {
    const absolute = relative === '' ? root : join(root, relative);
    const stats = await lstat(absolute, { bigint: true });
    const type = stats.isDirectory()
      ? 'dir'
      : stats.isFile()
        ? 'file'
        : stats.isSymbolicLink()
          ? 'symlink'
          : 'other';
    if (relative !== '' || withRoot) {
      out.set(relative, {
        type,
        mode: Number(stats.mode & 0o7777n),
        // Symlink mtimes are set with lutimes and compared too.
        mtimeUs: stats.mtimeNs / 1000n,
        size: type === 'dir' ? 0 : Number(stats.size),
        ...(type === 'file' ? { sha256: await sha256(absolute) } : {}),
        ...(type === 'symlink' ? { target: await readlink(absolute) } : {}),
      });
    }
    if (type === 'dir') {
      for (const name of (await readdir(absolute)).sort()) {
        await visit(relative === '' ? name : `${relative}/${name}`);
      }
    }
  };
  await visit('');
  return out;
}

/** Differences between two trees, one line each; empty when they are the same. */
export async function compareTrees(expected: string, actual: string): Promise<string[]> {
  const a = await describeTree(expected);
  const b = await describeTree(actual);
  return diffFacts(a, b);
}

export function diffFacts(a: Map<string, TreeFacts>, b: Map<string, TreeFacts>): string[] {
  const problems: string[] = [];
  for (const [path, facts] of a) {
    const other = b.get(path);
    if (!other) {
      problems.push(`missing: ${JSON.stringify(path)}`);
      continue;
    }
    for (const key of ['type', 'mode', 'size', 'sha256', 'target'] as const) {
      if (facts[key] !== other[key]) {
        problems.push(`${JSON.stringify(path)}: ${key} ${String(facts[key])} != ${String(other[key])}`);
      }
    }
    // utimes takes seconds as a double: allow a microsecond of rounding.
    const skew = facts.mtimeUs - other.mtimeUs;
    if (skew > 1n || skew < -1n) {
      problems.push(`${JSON.stringify(path)}: mtime ${facts.mtimeUs} != ${other.mtimeUs}`);
    }
  }
  for (const path of b.keys()) if (!a.has(path)) problems.push(`extra: ${JSON.stringify(path)}`);
  return problems;
}
