import { randomBytes } from 'node:crypto';
import { chmod, lutimes, mkdir, open, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Deterministic pseudo-random bytes (xorshift), fast enough for hundreds of MB. */
export function pseudoRandom(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761 + 1) | 1;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, i);
  }
  for (; i < length; i++) out[i] = i & 0xff;
  return out;
}

/**
 * Text-like bytes that compress a few times, like database pages or logs: random
 * words from a small vocabulary, with a seed-dependent salt so files differ.
 */
export function compressible(seed: number, length: number): Buffer {
  const words = Array.from({ length: 256 }, (_, i) => `w${(i * 7919 + seed) % 100003} `);
  const random = pseudoRandom(seed, Math.ceil(length / 4) + 4);
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < length; i++) {
    const word = words[random[i % random.length]!]!;
    parts.push(word);
    size += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}

/** Writes a file of `length` bytes in slices (bounded memory for large files). */
export async function writeLargeFile(
  path: string,
  length: number,
  slice: (index: number, length: number) => Buffer,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  try {
    const step = 8 * 1024 * 1024;
    for (let at = 0, i = 0; at < length; at += step, i++) {
      await handle.write(slice(i, Math.min(step, length - at)));
    }
  } finally {
    await handle.close();
  }
}

export async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

const ODD_NAMES = [
  'with space',
  'ünïcödé-名前',
  'line\nbreak',
  '-leading-dash',
  'tab\there',
  'quote\'"',
  '%percent%20',
  'x'.repeat(200),
  '.hidden',
  'emoji-😀',
];

/**
 * A tree with what restores get wrong: many small files in nested directories, odd
 * names, empty files and directories, symlinks (relative, absolute, dangling, to a
 * directory), unusual modes and fixed old mtimes.
 */
export async function makeMixedTree(root: string, smallFiles = 1500): Promise<void> {
  await mkdir(root, { recursive: true });
  for (let i = 0; i < smallFiles; i++) {
    const dir = join(root, `d${i % 17}`, `e${i % 5}`);
    await mkdir(dir, { recursive: true });
    const size = i % 50 === 0 ? 0 : (i * 997) % 40000;
    await writeFile(join(dir, `f${i}.txt`), i % 3 === 0 ? randomBytes(size) : compressible(i, size));
  }
  for (const name of ODD_NAMES) {
    await writeFile(join(root, name), `content of ${name}\n`);
    await mkdir(join(root, 'odd', name), { recursive: true });
  }
  await writeFile(join(root, 'empty-file'), '');
  await mkdir(join(root, 'empty-dir', 'nested-empty'), { recursive: true });
  await symlink('d0/e0/f0.txt', join(root, 'link-relative'));
  await symlink('/etc/hostname', join(root, 'link-absolute'));
  await symlink('does/not/exist', join(root, 'link-dangling'));
  await symlink('d1', join(root, 'link-to-dir'));
  await writeFile(join(root, 'private'), 'secret');
  await chmod(join(root, 'private'), 0o600);
  await writeFile(join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'script.sh'), 0o4755);
  await mkdir(join(root, 'readonly-dir'));
  await writeFile(join(root, 'readonly-dir', 'inside'), 'inside a read-only directory');
  await chmod(join(root, 'readonly-dir'), 0o555);
  const old = new Date('2001-02-03T04:05:06.789Z');
  await utimes(join(root, 'script.sh'), old, old);
  await lutimes(join(root, 'link-relative'), old, old);
}
