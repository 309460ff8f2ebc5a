import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { ArchiveError } from '../errors.js';

/**
 * Makes sure a restore may write into `target` and every relocated subtree's directory:
 * each must be a directory, and empty unless the restore is a delta. All are checked
 * before any is created, so a refused restore leaves nothing behind.
 */
export async function prepareTargets(targets: readonly string[], delta: boolean): Promise<void> {
  const missing: string[] = [];
  for (const target of targets) {
    if (!(await checkTarget(target, delta))) missing.push(target);
  }
  for (const target of missing) await mkdir(target, { recursive: true });
}

/** Makes sure a restore may write into `target` (see `prepareTargets`). */
export async function prepareTarget(target: string, delta: boolean): Promise<void> {
  await prepareTargets([target], delta);
}

/** Whether `target` exists, throwing when a restore may not write into it. */
async function checkTarget(target: string, delta: boolean): Promise<boolean> {
  let stats: BigIntStats | undefined;
  try {
    stats = await lstat(target, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!stats) return false;
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
  return true;
}
