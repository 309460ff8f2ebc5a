import { link, lstat, readlink, rm, symlink } from 'node:fs/promises';
import { decodeFileName, nativePath } from '../snapshot/file-name.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import type { EntryMetadata } from './entry-metadata.js';

/** Creates a symlink (as a link) with its metadata. Delta: one already pointing there stays. */
export async function restoreSymlink(
  absolute: string,
  entry: TreeEntry,
  delta: boolean,
  metadata: EntryMetadata,
): Promise<void> {
  const path = nativePath(absolute);
  if (delta) {
    const existing = await readlink(path, { encoding: 'buffer' }).catch(() => undefined);
    if (existing && decodeFileName(existing) === entry.target) {
      await metadata.apply(absolute, entry);
      return;
    }
    await rm(path, { force: true, recursive: true });
  }
  await symlink(nativePath(entry.target!), path);
  await metadata.apply(absolute, entry);
}

/**
 * Links `absolute` to the file `existing` (which must exist); its metadata is the
 * file's own. Delta: a name already linked to it stays, and false comes back.
 */
export async function linkHardLink(existing: string, absolute: string, delta: boolean): Promise<boolean> {
  const file = nativePath(existing);
  const path = nativePath(absolute);
  if (delta) {
    const [target, here] = await Promise.all([
      lstat(file, { bigint: true }),
      lstat(path, { bigint: true }).catch(() => undefined),
    ]);
    if (here && here.ino === target.ino && here.dev === target.dev) return false;
    if (here) await rm(path, { recursive: true, force: true });
  }
  await link(file, path);
  return true;
}
