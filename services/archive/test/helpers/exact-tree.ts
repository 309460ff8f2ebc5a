import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { decodeFileName } from '../../src/snapshot/file-name.js';
import type { Fidelity } from './property-tree.js';

/** What a restore must reproduce of one entry, names and link targets as bytes. */
export interface ExactFacts {
  readonly type: 'dir' | 'file' | 'symlink' | 'other';
  readonly mode: number;
  readonly mtimeNs: bigint;
  readonly size: number;
  /** Bytes allocated on disk: a sparse file's holes take none. */
  readonly allocated: number;
  readonly sha256?: string;
  /** Files: how many aligned 32 KiB blocks hold a byte that is not zero. */
  readonly dataBlocks?: number;
  /** Symlinks: the target's bytes, hex. */
  readonly target?: string;
  /** Files with more than one name in the tree: the first of them (in walk order). */
  readonly linkGroup?: string;
}

/** Every entry under `root`, by its path decoded losslessly (see src/snapshot/file-name.ts). */
export async function describeExact(root: string): Promise<Map<string, ExactFacts>> {
  const out = new Map<string, ExactFacts>();
  const inodes = new Map<bigint, string>();
  const visit = async (absolute: Buffer, relative: Buffer | undefined): Promise<void> => {
    const stats = await lstat(absolute, { bigint: true });
    const key = relative === undefined ? '' : decodeFileName(relative);
    const type = stats.isDirectory()
      ? 'dir'
      : stats.isFile()
        ? 'file'
        : stats.isSymbolicLink()
          ? 'symlink'
          : 'other';
    let linkGroup: string | undefined;
    if (type === 'file' && stats.nlink > 1n) {
      linkGroup = inodes.get(stats.ino) ?? key;
      inodes.set(stats.ino, linkGroup);
    }
    out.set(key, {
      type,
      mode: Number(stats.mode & 0o7777n),
      mtimeNs: stats.mtimeNs,
      size: type === 'dir' ? 0 : Number(stats.size),
      allocated: Number(stats.blocks) * 512,
      ...(type === 'file' ? await fileFacts(absolute) : {}),
      ...(type === 'symlink'
        ? { target: (await readlink(absolute, { encoding: 'buffer' })).toString('hex') }
        : {}),
      ...(linkGroup === undefined ? {} : { linkGroup }),
    });
    if (type !== 'dir') return;
    const names = (await readdir(absolute, { encoding: 'buffer' })).sort(Buffer.compare);
    for (const name of names) {
      const slash = Buffer.from('/');
      await visit(
        Buffer.concat([absolute, slash, name]),
        relative === undefined ? name : Buffer.concat([relative, slash, name]),
      );
    }
  };
  await visit(Buffer.from(root), undefined);
  return out;
}

/** A restore keeps holes of whole zero blocks of this size (see src/fs/zero-blocks.ts). */
const ZERO_BLOCK = 32 * 1024;
const ZEROS = Buffer.alloc(ZERO_BLOCK);

/** Files here are a few MiB at most: read whole, which costs fewer calls than a stream. */
async function fileFacts(path: Buffer): Promise<{ sha256: string; dataBlocks: number }> {
  const bytes = await readFile(path);
  let dataBlocks = 0;
  for (let at = 0; at < bytes.length; at += ZERO_BLOCK) {
    const block = bytes.subarray(at, at + ZERO_BLOCK);
    if (!block.equals(ZEROS.subarray(0, block.length))) dataBlocks++;
  }
  return { sha256: createHash('sha256').update(bytes).digest('hex'), dataBlocks };
}

/** Sparse files may gain this much allocation on restore (filesystem block rounding). */
const ALLOCATION_SLACK = 64 * 1024;

/**
 * The differences between the tree a snapshot was made of and a restore of it, one
 * line each. What is compared exactly follows `fidelity`: with a feature off, its
 * facts are compared as today's format keeps them (mtimes within two microseconds, hard
 * links and holes not at all).
 */
export function diffExact(
  expected: Map<string, ExactFacts>,
  actual: Map<string, ExactFacts>,
  fidelity: Fidelity,
  delta = false,
): string[] {
  const problems: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    const name = JSON.stringify(path);
    if (!got) {
      problems.push(`missing: ${name}`);
      continue;
    }
    for (const key of ['type', 'mode', 'size', 'sha256', 'target'] as const) {
      if (want[key] !== got[key])
        problems.push(`${name}: ${key} ${String(want[key])} != ${String(got[key])}`);
    }
    // With perl, a restore sets the nanosecond; without it, utimes(2) from Node takes a
    // double of seconds, truncated by libuv to the microsecond. Without either, about
    // two microseconds of rounding either way.
    const skew = want.mtimeNs - got.mtimeNs;
    const wrong = fidelity.nanosecondMtimes
      ? skew !== 0n
      : fidelity.microsecondMtimes
        ? want.mtimeNs / 1000n !== got.mtimeNs / 1000n
        : skew > 2000n || skew < -2000n;
    if (wrong) {
      problems.push(`${name}: mtime ${want.mtimeNs} != ${got.mtimeNs}`);
    }
    if (fidelity.hardLinks && want.linkGroup !== got.linkGroup) {
      problems.push(
        `${name}: hard link group ${JSON.stringify(want.linkGroup)} != ${JSON.stringify(got.linkGroup)}`,
      );
    }
    if (
      fidelity.holes &&
      (!delta || fidelity.holesInDeltaRestores) &&
      want.type === 'file' &&
      want.allocated + ALLOCATION_SLACK < want.size &&
      got.allocated > (want.dataBlocks ?? 0) * ZERO_BLOCK + ALLOCATION_SLACK
    ) {
      problems.push(
        `${name}: sparse file of ${want.size} B (${want.dataBlocks} blocks of 32 KiB with data) allocated ${got.allocated} B, source ${want.allocated} B`,
      );
    }
  }
  for (const path of actual.keys()) if (!expected.has(path)) problems.push(`extra: ${JSON.stringify(path)}`);
  return problems;
}
