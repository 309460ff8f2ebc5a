import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes, from a stopped data directory about to run as a standby, the slots
 * Pullback made while it was the active: the WAL receiver's `pullback_<component>`
 * and the own export's `pullback_export_<component>`. A standby keeps the WAL its slots
 * hold back, and nothing reads these there: a former active would keep WAL from its
 * last days as the active until its disk filled. Other slots are the user's, and stay.
 * Made again when it is the active once more.
 */
export async function forgetPullbackSlots(dataDir: string): Promise<void> {
  const slots = join(dataDir, 'pg_replslot');
  const names = await readdir(slots).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) {
    if (name.startsWith('pullback_')) await rm(join(slots, name), { recursive: true, force: true });
  }
}
