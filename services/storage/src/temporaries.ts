import { randomUUID } from 'node:crypto';
import { opendir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Backend } from './backend.js';

/**
 * Where the fs driver stages writes before renaming them into place: inside the root so
 * the rename never crosses a filesystem, and hidden from `list`.
 */
export const TEMP_DIR = '.tmp';

// A file name is at most 255 bytes: a uuid, a pid and this much of the host name fit.
const HOST_CHARS = 180;

/** Who wrote a temporary: enough to ask whether it still lives (see `removeTemporaries`). */
export interface TemporaryOwner {
  readonly pid: number;
  readonly hostname: string;
}

/** A temporary's name: `<uuid>.<pid>.<hostname>`, so a cleaner can tell whose it is. */
export function temporaryName(): string {
  return `${randomUUID()}.${process.pid}.${thisHostForTemporaries()}`;
}

/** The host name as temporary names record it (shortened to fit a file name). */
export function thisHostForTemporaries(): string {
  return hostname().slice(0, HOST_CHARS);
}

/** The owner a temporary's name records; undefined for names without one (older writers). */
export function temporaryOwner(name: string): TemporaryOwner | undefined {
  const match = /^[0-9a-f-]{36}\.(\d+)\.(.+)$/.exec(name);
  return match ? { pid: Number(match[1]), hostname: match[2]! } : undefined;
}

/** One staged write, as `removeTemporaries` shows it to its judge. */
export interface Temporary {
  readonly name: string;
  readonly owner: TemporaryOwner | undefined;
  readonly modified: Date;
  readonly size: number;
}

/**
 * Removes the staged writes `isGarbage` judges abandoned (a process killed while it
 * saved leaves its temporary behind). Only the fs driver stages writes; on other
 * backends this does nothing. Returns what was removed.
 */
export async function removeTemporaries(
  backend: Backend,
  isGarbage: (temporary: Temporary) => boolean,
): Promise<{ files: number; bytes: number }> {
  const removed = { files: 0, bytes: 0 };
  // The staging directory sits beside the objects, whose place `localPath` gives.
  const directory = backend.localPath ? join(dirname(backend.localPath('x')), TEMP_DIR) : undefined;
  if (directory === undefined) return removed;
  let entries: Awaited<ReturnType<typeof opendir>>;
  try {
    entries = await opendir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw error;
  }
  for await (const entry of entries) {
    const path = join(directory, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) continue; // renamed into place or removed meanwhile
    const temporary = {
      name: entry.name,
      owner: temporaryOwner(entry.name),
      modified: info.mtime,
      size: info.size,
    };
    if (!isGarbage(temporary)) continue;
    await rm(path, { force: true });
    removed.files++;
    removed.bytes += info.size;
  }
  return removed;
}
