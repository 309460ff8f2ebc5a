import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isProcessAlive } from '@pullback/pipeline';

/** How long to wait between attempts on a lock another process holds. */
const RETRY_MS = 5;

/**
 * Runs `body` holding `lockPath`, a file created exclusively (link(2), which fails when
 * the name exists, like O_EXCL), so two processes on this host (two agents started by
 * mistake for one instance) take turns. Node has no flock; exclusive creation is atomic
 * on every local filesystem, and the file names its
 * holder (`pid token`) so a lock left by a process that died is recognised and broken.
 * Breaking renames the lock aside first and checks it is still the dead holder's: a lock
 * another process took meanwhile is put back (link fails if a third one has it).
 */
export async function withFileLock<T>(lockPath: string, body: () => Promise<T>): Promise<T> {
  const mine = `${process.pid} ${randomBytes(8).toString('hex')}`;
  // Written whole aside and linked into place: the lock is never seen empty or half-written.
  const draft = `${lockPath}.${mine.replace(' ', '.')}.draft`;
  await writeFile(draft, mine, { mode: 0o600 });
  try {
    for (;;) {
      try {
        await link(draft, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (!(await breakIfAbandoned(lockPath))) await delay(RETRY_MS);
      }
    }
  } finally {
    await unlink(draft).catch(() => {});
  }
  try {
    return await body();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

/** Removes the lock when its holder is dead; whether it did. */
async function breakIfAbandoned(lockPath: string): Promise<boolean> {
  const holder = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (holder === undefined) return true;
  const pid = Number(holder.split(' ')[0]);
  if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) return false;
  const aside = `${lockPath}.${randomBytes(8).toString('hex')}.broken`;
  try {
    await rename(lockPath, aside);
  } catch {
    return true;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== holder) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
  return true;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
