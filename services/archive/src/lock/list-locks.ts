import { type Backend, isNotFound, type OperationOptions } from '@pullback/storage';
import { decodeLock, LOCKS_PREFIX, type LockRecord, MAX_LOCK_BYTES } from './lock-record.js';
import { type StalenessOptions, type StaleReason, staleReason } from './staleness.js';

/** One lock object of the archive, as `listLocks` found it. */
export type ListedLock =
  | { readonly id: string; readonly state: 'live'; readonly record: LockRecord }
  | {
      readonly id: string;
      readonly state: 'stale';
      readonly record: LockRecord;
      readonly reason: StaleReason;
    }
  /** An object under `locks/` that is not a lock this version understands. */
  | { readonly id: string; readonly state: 'invalid'; readonly problem: string };

export interface ListLocksOptions extends StalenessOptions, OperationOptions {}

/**
 * Every lock object of the archive, read and judged live, stale or invalid at one
 * moment. Objects removed while they are read are left out.
 */
export async function listLocks(backend: Backend, options: ListLocksOptions = {}): Promise<ListedLock[]> {
  const { signal } = options;
  const objects = [];
  for await (const object of backend.list(LOCKS_PREFIX, { signal })) objects.push(object);
  // A handful of small objects: read them all at once (the limit wrapper caps it).
  const read = await Promise.all(
    objects.map(async ({ name, size }) => {
      const id = name.slice(LOCKS_PREFIX.length);
      if (size > MAX_LOCK_BYTES) return { id, decoded: { problem: `${size} bytes long` } };
      let bytes: Buffer;
      try {
        bytes = Buffer.concat(await (await backend.load(name, undefined, { signal })).toArray({ signal }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      return { id, decoded: decodeLock(bytes) };
    }),
  );
  // Judged after every read, against one clock reading.
  const now = Date.now();
  const locks: ListedLock[] = [];
  for (const entry of read) {
    if (entry === undefined) continue;
    if ('problem' in entry.decoded) {
      locks.push({ id: entry.id, state: 'invalid', problem: entry.decoded.problem });
    } else {
      const record = entry.decoded;
      const reason = staleReason(record, now, options);
      locks.push(
        reason === undefined
          ? { id: entry.id, state: 'live', record }
          : { id: entry.id, state: 'stale', record, reason },
      );
    }
  }
  return locks;
}

/**
 * Removes the archive's stale locks (expired leases, dead processes on this host) and
 * returns them. Live and invalid lock objects are left alone.
 */
export async function removeStaleLocks(
  backend: Backend,
  options: ListLocksOptions = {},
): Promise<ListedLock[]> {
  const stale = (await listLocks(backend, options)).filter((lock) => lock.state === 'stale');
  await Promise.all(stale.map((lock) => backend.remove(`${LOCKS_PREFIX}${lock.id}`, options)));
  return stale;
}

/**
 * Removes every lock object, live ones included: for an operator who knows that no
 * process uses the archive (restic's `unlock --remove-all`), and the way out of an
 * invalid lock object. Returns what was removed.
 */
export async function removeAllLocks(backend: Backend, options: OperationOptions = {}): Promise<string[]> {
  const ids: string[] = [];
  for await (const { name } of backend.list(LOCKS_PREFIX, options)) ids.push(name.slice(LOCKS_PREFIX.length));
  await Promise.all(ids.map((id) => backend.remove(`${LOCKS_PREFIX}${id}`, options)));
  return ids;
}
