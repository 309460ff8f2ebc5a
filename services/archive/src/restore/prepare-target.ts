import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { ArchiveError } from '../errors.js';

/**
 * Makes sure a restore may write into `target`: created if missing; it must be a
 * directory, and empty unless the restore is a delta.
 */
export async function prepareTarget(target: string, delta: boolean): Promise<void> {
  let stats: BigIntStats | undefined;
  try {
    stats = await lstat(target, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!stats) {
    await mkdir(target, { recursive: true });
    return;
  }
  if (!stats.isDirectory()) {
    throw new ArchiveError('target-not-directory', `restore target is not a directory: ${target}`, {
      hint: 'restore into a directory, or a path that does not exist yet',
    });
  }
  if (!delta && (await readdir(target)).length > 0) {
    throw new ArchiveError('target-not-empty', `restore target is not empty: ${target}`, {
      hint: 'restore into an empty directory, or pass --delta to update it in place',
    });
  }
}
