import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '@pullback/pipeline/core';

/** What postmaster.pid says about a data directory's server. */
export interface PostmasterStatus {
  /** A postmaster.pid names a live process. */
  readonly running: boolean;
  readonly pid?: number;
  readonly port?: number;
  readonly socketDir?: string;
  readonly listenAddress?: string;
  /** `starting`, `stopping`, `ready` (accepting connections: a primary, or a hot standby too) or `standby`. */
  readonly state?: string;
}

/**
 * Reads `<dataDir>/postmaster.pid` (lines: pid, data dir, start time, port, socket dir,
 * listen address, shared memory key, state) and checks that its process lives, as
 * pg_ctl does. A stale file (a crashed server) is reported as not running.
 */
export async function postmasterStatus(dataDir: string): Promise<PostmasterStatus> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { running: false };
    throw error;
  }
  const lines = text.split('\n').map((line) => line.trim());
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return { running: false };
  const port = Number(lines[3]);
  return {
    running: isProcessAlive(pid),
    pid,
    ...(Number.isInteger(port) && port > 0 ? { port } : {}),
    ...(lines[4] ? { socketDir: lines[4] } : {}),
    ...(lines[5] ? { listenAddress: lines[5] } : {}),
    ...(lines[7] ? { state: lines[7] } : {}),
  };
}
