import { rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { completeName } from './format.js';
import type { Outbox } from './outbox.js';

/**
 * Removes every object of export `exportId` from the outbox: the one removal, used by
 * a failed export, a stale one and a finished pull. COMPLETE goes first, so that from
 * the first removal on the artifact no longer reads as complete: an interrupted
 * removal leaves data objects without COMPLETE, which a pull refuses, a retried export
 * replaces and a retried removal finishes. In an outbox that is a directory, the
 * export's directories go with its last object.
 */
export async function removeArtifact(outbox: Outbox, exportId: string, signal?: AbortSignal): Promise<void> {
  const complete = completeName(exportId);
  const names: string[] = [];
  for await (const info of outbox.list(`${exportId}/`, signal === undefined ? {} : { signal })) {
    names.push(info.name);
  }
  if (names.includes(complete)) await outbox.remove(complete);
  for (const name of names) if (name !== complete) await outbox.remove(name);
  if (outbox.localPath !== undefined) await removeEmptyDirectories(outbox.localPath, complete, names);
}

/**
 * The directories that held `names`, up to the export's own (where `complete` is),
 * deepest first, when they are empty: an outbox of many exports would otherwise keep
 * a directory for each, which every listing of it reads. One that is not empty (an
 * export retried under the same id is writing) or that this user may not remove is
 * left: it costs a listing, never an artifact.
 */
async function removeEmptyDirectories(
  localPath: (name: string) => string,
  complete: string,
  names: readonly string[],
): Promise<void> {
  const top = dirname(localPath(complete));
  const directories = new Set<string>([top]);
  for (const name of names) {
    for (
      let directory = dirname(localPath(name));
      directory.startsWith(`${top}/`);
      directory = dirname(directory)
    ) {
      directories.add(directory);
    }
  }
  for (const directory of [...directories].sort((a, b) => b.length - a.length)) {
    await rmdir(directory).catch((error: NodeJS.ErrnoException) => {
      if (!['ENOENT', 'ENOTEMPTY', 'EEXIST', 'EACCES', 'EPERM', 'EROFS'].includes(error.code ?? ''))
        throw error;
    });
  }
}
