import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const MiB = 1024 * 1024;

/**
 * Content that compresses about as well as real files (half random, half repeated
 * text), seeded per file so that files differ and dedup only finds what is shared.
 */
function block(size: number): Buffer {
  const random = randomBytes(size >> 1);
  const text = Buffer.from(`${random.toString('hex', 0, 16)} the quick brown fox jumps over the lazy dog\n`);
  const repeated = Buffer.alloc(size - random.length);
  for (let offset = 0; offset < repeated.length; offset += text.length) text.copy(repeated, offset);
  return Buffer.concat([random, repeated]);
}

async function writeLarge(path: string, bytes: number): Promise<void> {
  async function* blocks() {
    for (let written = 0; written < bytes; written += 4 * MiB)
      yield block(Math.min(4 * MiB, bytes - written));
  }
  await pipeline(blocks(), createWriteStream(path));
}

/**
 * A 2 GiB tree: 4 files of 384 MiB, 200 of 2.5 MiB, 20,000 small ones (1-16 KiB) in
 * 100 directories, some empty files and directories and symlinks.
 */
export async function generateTree(root: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  await mkdir(join(root, 'large'), { recursive: true });
  for (let i = 0; i < 4; i++) {
    await writeLarge(join(root, 'large', `blob-${i}.bin`), 384 * MiB);
    bytes += 384 * MiB;
    files++;
  }
  await mkdir(join(root, 'medium'));
  for (let i = 0; i < 200; i++) {
    await writeLarge(join(root, 'medium', `part-${i}.dat`), 2.5 * MiB);
    bytes += 2.5 * MiB;
    files++;
  }
  for (let dir = 0; dir < 100; dir++) {
    const path = join(root, 'small', `d${dir}`);
    await mkdir(path, { recursive: true });
    for (let i = 0; i < 200; i++) {
      const size = 1024 + ((dir * 7919 + i * 104729) % (15 * 1024));
      await writeFile(join(path, `f${i}.txt`), block(size));
      bytes += size;
      files++;
    }
  }
  await mkdir(join(root, 'empty-dir'));
  await writeFile(join(root, 'empty-file'), '');
  await symlink('large/blob-0.bin', join(root, 'link-to-blob'));
  return { bytes, files: files + 1 };
}
