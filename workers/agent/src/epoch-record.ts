import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { withFileLock } from './file-lock.js';

/**
 * What an instance last agreed to (docs/election.md "The epoch"): the epoch and who is
 * active under it. Kept in the state directory, never in the data directory, so a base
 * backup cannot carry it to another host.
 */
export interface EpochRecord {
  readonly epoch: number;
  /** The instance that is the active at `epoch`. */
  readonly active: string;
  /** When it was recorded (ISO 8601). */
  readonly at: string;
}

/** An epoch proposed to an instance: `POST /epoch`. */
export interface EpochProposal {
  readonly epoch: number;
  readonly active: string;
}

export type CompareAndSetResult =
  | { readonly accepted: true; readonly record: EpochRecord; readonly previous?: EpochRecord }
  | { readonly accepted: false; readonly record?: EpochRecord; readonly reason: string };

const RECORD = z.strictObject({
  epoch: z.number().int().nonnegative(),
  active: z.string().min(1),
  at: z.string().min(1),
});

/** `<stateDir>/instances/<instance>/epoch.json`. */
export function epochRecordPath(stateDir: string, instance: string): string {
  return join(stateDir, 'instances', instance, 'epoch.json');
}

/**
 * Reads the record at `path`; undefined when there is none yet. A record that cannot be
 * read as one is a one-line error naming the file: nothing is decided on a guess.
 */
export async function readEpochRecord(path: string): Promise<EpochRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, (error as Error).message);
  }
  const result = RECORD.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw corrupt(path, issue ? `${issue.path.join('.') || 'record'}: ${issue.message}` : 'invalid');
  }
  return result.data;
}

function corrupt(path: string, why: string): Error {
  return new Error(
    `epoch record ${path} is corrupt (${why.replace(/\s+/g, ' ')}); HINT: restore it or remove it only if no other instance can be active`,
  );
}

/** Why `proposal` may not replace `current`, or undefined when it may. */
export function refusalOf(current: EpochRecord | undefined, proposal: EpochProposal): string | undefined {
  if (current === undefined || proposal.epoch > current.epoch) return undefined;
  if (proposal.epoch === current.epoch && proposal.active === current.active) return undefined;
  return proposal.epoch === current.epoch
    ? `epoch ${current.epoch} is already recorded with ${current.active} active`
    : `epoch ${proposal.epoch} is older than the recorded epoch ${current.epoch} (${current.active} active)`;
}

/** One queue per record file in this process; the lock file orders processes (file-lock.ts). */
const queues = new Map<string, Promise<unknown>>();

/**
 * An instance's epoch record, changed only by compare-and-set, one at a time per file:
 * an in-process queue, and a lock file for another process on this host.
 */
export class EpochRecordStore {
  constructor(readonly path: string) {}

  read(): Promise<EpochRecord | undefined> {
    return readEpochRecord(this.path);
  }

  /**
   * Runs `body` alone: no compare-and-set on this record runs meanwhile, in this process
   * or another (a failsafe grant reads the record and must not race a newer epoch).
   */
  exclusive<T>(body: () => Promise<T>): Promise<T> {
    const previous = queues.get(this.path) ?? Promise.resolve();
    const run = previous.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      return withFileLock(`${this.path}.lock`, body);
    });
    const settled = run.catch(() => {});
    queues.set(this.path, settled);
    void settled.then(() => {
      if (queues.get(this.path) === settled) queues.delete(this.path);
    });
    return run;
  }

  /**
   * Records `proposal` if it is newer than the record (or equal with the same active)
   * and `veto` (checked inside, e.g. a live failsafe promise) has nothing against it.
   */
  compareAndSet(
    proposal: EpochProposal,
    veto?: (proposal: EpochProposal) => string | undefined,
  ): Promise<CompareAndSetResult> {
    return this.exclusive(async () => {
      await this.removeLeftovers();
      const current = await this.read();
      const refused = refusalOf(current, proposal) ?? veto?.(proposal);
      if (refused !== undefined)
        return { accepted: false, reason: refused, ...(current ? { record: current } : {}) };
      if (current !== undefined && current.epoch === proposal.epoch) {
        return { accepted: true, record: current, previous: current };
      }
      const record: EpochRecord = {
        epoch: proposal.epoch,
        active: proposal.active,
        at: new Date().toISOString(),
      };
      await this.write(record);
      return { accepted: true, record, ...(current ? { previous: current } : {}) };
    });
  }

  /** Written aside, fsynced, renamed over the record, and the directory fsynced: all or nothing. */
  private async write(record: EpochRecord): Promise<void> {
    const temp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(record)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Temp files of a writer that crashed; only the lock holder writes one, so any found now is dead. */
  private async removeLeftovers(): Promise<void> {
    const dir = dirname(this.path);
    const prefix = `${this.path.slice(dir.length + 1)}.`;
    for (const name of await readdir(dir)) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => {});
    }
  }
}
