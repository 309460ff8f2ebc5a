import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isProcessAlive } from '@pullback/pipeline';

/** How long to wait between attempts on a lock another process holds. */
const RETRY_MS = 5;

/**
 * Runs `body` holding `lockPath`, a file created exclusively (link(2), which fails when
 * the name exists, like O_EXCL), so two processes on this host (two agents started by
 * mistake for one instance) take turns. Node has no flock; exclusive creation is atomic
 * on every local filesystem, and the file names its holder (holderOf) so a lock left by
 * a process that died is recognised and broken. Breaking renames the lock aside first
 * and checks it is still the dead holder's: a lock another process took meanwhile is put
 * back (link fails if a third one has it).
 */
export async function withFileLock<T>(lockPath: string, body: () => Promise<T>): Promise<T> {
  const mine = `${await holderOf(process.pid)} ${randomBytes(8).toString('hex')}`;
  // Written whole aside and linked into place: the lock is never seen empty or half-written.
  const draft = `${lockPath}.${process.pid}.${randomBytes(8).toString('hex')}.draft`;
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
  if (await isLive(holder)) return false;
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

/**
 * A process as a lock names it: `pid bootId startTime`. A pid alone is not enough: the
 * state directory outlives a reboot, and a pid is soon reused by another process, which
 * would keep a dead holder's lock forever. Outside Linux the last two are `-`.
 */
export async function holderOf(pid: number): Promise<string> {
  return `${pid} ${(await bootId()) ?? '-'} ${(await startTimeOf(pid)) ?? '-'}`;
}

/** The lock's holder is this boot's process of that pid, started when it was. */
async function isLive(holder: string): Promise<boolean> {
  const [pidText, boot, start] = holder.split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return false;
  const [thisBoot, thenStart] = [await bootId(), await startTimeOf(pid)];
  if (boot !== undefined && boot !== '-' && thisBoot !== undefined && boot !== thisBoot) return false;
  if (start !== undefined && start !== '-' && thenStart !== undefined && start !== thenStart) return false;
  return true;
}

let boot: Promise<string | undefined> | undefined;

function bootId(): Promise<string | undefined> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  return boot;
}

/** Field 22 of /proc/<pid>/stat, in clock ticks since boot; read after the command name, which may hold spaces. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
