/*
 * Real tars for the fuzz test to start from: pg_basebackup's output of a throwaway
 * cluster (a sample of its members, byte for byte, so cases stay small), and GNU tar's
 * of a small tree with long names, a name that is not UTF-8, symlinks, a hard link,
 * in its GNU and pax formats.
 */
import { execFile } from 'node:child_process';
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPostgres } from '@pullback/harness';
import { BLOCK, tarLayout } from './raw-tar.js';

const execFileAsync = promisify(execFile);

export interface SeedTar {
  readonly label: string;
  readonly tar: Buffer;
}

/** A base backup of a fresh cluster, cut down to `members` of its members (directories and small files). */
export async function basebackupSeed(dir: string, members = 40): Promise<SeedTar> {
  const pg = await startPostgres();
  try {
    await execFileAsync(join(pg.binDir, 'pg_basebackup'), [
      '-d',
      pg.connectionString(),
      '-D',
      dir,
      '-F',
      't',
      '-X',
      'none',
      '-c',
      'fast',
      '--no-manifest',
    ]);
  } finally {
    await pg.stop();
  }
  const whole = await readFile(join(dir, 'base.tar'));
  const { offsets, end } = tarLayout(whole);
  const ranges = offsets.map((start, i) => [start, offsets[i + 1] ?? end] as const);
  const small = ranges.filter(([start, end]) => end - start <= 4 * BLOCK);
  // An even spread: directories, configuration and relation files alike.
  const step = Math.max(1, Math.floor(small.length / members));
  const picked = small.filter((_, i) => i % step === 0).slice(0, members);
  return {
    label: 'pg_basebackup',
    tar: Buffer.concat([
      ...picked.map(([start, end]) => whole.subarray(start, end)),
      Buffer.alloc(2 * BLOCK),
    ]),
  };
}

/** GNU tar's tars (formats gnu and posix) of a small tree that uses what tar headers can say. */
export async function gnuTarSeeds(dir: string): Promise<SeedTar[]> {
  const tree = join(dir, 'tree');
  const deep = join(tree, 'd', 'e'.repeat(60), 'f'.repeat(60));
  await mkdir(deep, { recursive: true });
  await mkdir(join(tree, 'empty'));
  await writeFile(join(tree, 'd', 'a'), 'alpha\n');
  await writeFile(join(deep, 'g'.repeat(120)), 'a file whose path needs a long name\n');
  await writeFile(join(tree, 'n'.repeat(255)), 'the longest name a filesystem holds\n');
  await writeFile(Buffer.from(join(tree, 'caf\xe9'), 'latin1'), 'a name that is not UTF-8\n');
  await writeFile(join(tree, 'zero'), '');
  await writeFile(join(tree, 'bin'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)));
  await symlink('d/a', join(tree, 'l'));
  await symlink(`${'../'.repeat(3)}${'t'.repeat(120)}`, join(tree, 'long-link'));
  await link(join(tree, 'd', 'a'), join(tree, 'hard'));
  const seeds: SeedTar[] = [];
  for (const format of ['gnu', 'posix']) {
    const file = join(dir, `${format}.tar`);
    await execFileAsync('tar', [`--format=${format}`, '-cf', file, '-C', tree, '.']);
    seeds.push({ label: `GNU tar --format=${format}`, tar: await readFile(file) });
  }
  return seeds;
}
