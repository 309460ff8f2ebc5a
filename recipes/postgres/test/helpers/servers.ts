import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { postgresOwner, scratchDir } from '@pullback/harness';

/**
 * A scratch directory the `postgres` account can enter (mkdtemp makes it 0700 for
 * root), with `data` and `socket` paths inside it for a second server.
 */
export async function serverDir(label: string): Promise<{
  path: string;
  dataDir: string;
  socketDir: string;
  remove(): Promise<void>;
}> {
  const scratch = await scratchDir(label);
  const owner = await postgresOwner();
  const socketDir = join(scratch.path, 'socket');
  await mkdir(socketDir);
  if (owner) {
    await chown(scratch.path, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  return { path: scratch.path, dataDir: join(scratch.path, 'data'), socketDir, remove: scratch.remove };
}

/** The lines of a plain pg_dump that differ between runs (psql's per-dump restrict key). */
export function stableDump(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .join('\n');
}
