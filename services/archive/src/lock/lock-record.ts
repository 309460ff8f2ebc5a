import { randomBytes } from 'node:crypto';

/**
 * `shared` locks (backup, restore, verify) coexist with each other; an `exclusive`
 * lock (prune) coexists with nothing.
 */
export type LockKind = 'shared' | 'exclusive';

/** What a lock object says about its holder. */
export interface LockRecord {
  readonly kind: LockKind;
  readonly hostname: string;
  readonly pid: number;
  /** What the holder is doing, for messages: `backup`, `prune` ... */
  readonly purpose: string;
  readonly createdAt: Date;
  /** When the holder last rewrote the object; the lease runs from here. */
  readonly renewedAt: Date;
  /** How long after `renewedAt` the lock stays live without another renewal. */
  readonly leaseMs: number;
}

/** Lock objects live under this prefix of the archive, one object per lock. */
export const LOCKS_PREFIX = 'locks/';

/** The version written into lock objects; one with another version is not understood. */
export const LOCK_FORMAT_VERSION = 1;

// Lock objects are a few hundred bytes; anything much larger is not one of ours, and
// is not worth reading.
export const MAX_LOCK_BYTES = 64 * 1024;

/** A fresh random lock id: 128 bits, so two holders never pick the same name. */
export function newLockId(): string {
  return randomBytes(16).toString('hex');
}

export function lockName(id: string): string {
  return `${LOCKS_PREFIX}${id}`;
}

/**
 * The object's bytes: one line of plain UTF-8 JSON. Locks are not encrypted (they
 * hold no secrets, only a host name, a pid and a purpose), so that stale locks can be
 * seen and cleared without the key.
 */
export function encodeLock(record: LockRecord): Buffer {
  return Buffer.from(
    `${JSON.stringify({
      version: LOCK_FORMAT_VERSION,
      kind: record.kind,
      hostname: record.hostname,
      pid: record.pid,
      purpose: record.purpose,
      createdAt: record.createdAt.toISOString(),
      renewedAt: record.renewedAt.toISOString(),
      leaseMs: record.leaseMs,
    })}\n`,
  );
}

/** The record in a lock object, or a short description of what is wrong with it. */
export function decodeLock(bytes: Buffer): LockRecord | { readonly problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { problem: 'not a JSON object' };
  const fields = value as Record<string, unknown>;
  if (fields.version !== LOCK_FORMAT_VERSION) {
    return { problem: `unknown lock format version ${JSON.stringify(fields.version) ?? 'none'}` };
  }
  const { kind, hostname, pid, purpose, leaseMs } = fields;
  const createdAt = parseTime(fields.createdAt);
  const renewedAt = parseTime(fields.renewedAt);
  if (kind !== 'shared' && kind !== 'exclusive') return { problem: 'bad "kind"' };
  if (typeof hostname !== 'string') return { problem: 'bad "hostname"' };
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return { problem: 'bad "pid"' };
  if (typeof purpose !== 'string') return { problem: 'bad "purpose"' };
  if (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs <= 0) {
    return { problem: 'bad "leaseMs"' };
  }
  if (createdAt === undefined) return { problem: 'bad "createdAt"' };
  if (renewedAt === undefined) return { problem: 'bad "renewedAt"' };
  return { kind, hostname, pid, purpose, createdAt, renewedAt, leaseMs };
}

function parseTime(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time;
}
