import { chmod, chown, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { oneLine } from './one-line.js';
import { isRoot, type OsAccount, serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { runTool } from './run-tool.js';
import { holdTimelineFloor, releaseTimelineFloor } from './timeline-floor.js';
import { pgTool } from './tools.js';

/** A server on this host, as the import side controls it. */
export interface LocalServer {
  readonly dataDir: string;
  /** The operating-system account it runs as. Default: `postgres`. */
  readonly osUser?: string;
  readonly binDir?: string;
  readonly signal?: AbortSignal;
}

export interface StartOptions extends LocalServer {
  /** Where pg_ctl sends the server's output. Default: `<dataDir>/log/postmaster.log`. */
  readonly logFile?: string;
  /** How long to wait for it to accept connections. Default: 300 s (a standby may replay first). */
  readonly timeoutSeconds?: number;
}

/** The log file a server started by this recipe writes to. */
export function logFileOf(options: StartOptions): string {
  return options.logFile ?? join(options.dataDir, 'log', 'postmaster.log');
}

/**
 * Starts the server with `pg_ctl start -w` as its account (PostgreSQL refuses root)
 * and waits until it accepts connections. A failure names the data directory and
 * carries the end of the server's log.
 */
export async function startServer(options: StartOptions): Promise<void> {
  const account = await serverAccount(options.osUser);
  const logFile = logFileOf(options);
  await ensureOwnedFile(logFile, account);
  try {
    await pgCtl('start', options, account, [
      '--wait',
      '--timeout',
      String(options.timeoutSeconds ?? 300),
      '--log',
      logFile,
    ]);
  } catch (error) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const tail = oneLine(log.split('\n').slice(-6).join('\n'), 600);
    throw new Error(`${(error as Error).message}${tail ? `; server log ${logFile}: ${tail}` : ''}`, {
      cause: error,
    });
  }
}

/**
 * Stops the server of `dataDir` if one runs (`pg_ctl stop -m fast`: sessions are
 * ended, nothing is lost) and waits until it is gone. Returns whether one ran.
 */
export async function stopServer(options: LocalServer & { timeoutSeconds?: number }): Promise<boolean> {
  const before = await postmasterStatus(options.dataDir);
  if (!before.running) return false;
  const account = await serverAccount(options.osUser);
  try {
    await pgCtl('stop', options, account, [
      '--mode',
      'fast',
      '--wait',
      '--timeout',
      String(options.timeoutSeconds ?? 120),
    ]);
  } catch (error) {
    // It may have stopped on its own meanwhile; only a server still running is a failure.
    if ((await postmasterStatus(options.dataDir)).running) throw error;
  }
  return true;
}

/** Makes the running server of `dataDir` read its configuration again (`pg_ctl reload`). */
export async function reloadServer(options: LocalServer): Promise<void> {
  await pgCtl('reload', options, await serverAccount(options.osUser), []);
}

/**
 * Ends recovery on the standby of `dataDir` (`pg_ctl promote --wait`): it takes writes,
 * on a new timeline, once this returns; a server that already takes writes is left as it is. With `timelineFloor` (the activation's epoch),
 * that timeline is at least the floor (timeline-floor.ts).
 */
export async function promoteServer(
  options: LocalServer & { timeoutSeconds?: number; timelineFloor?: number },
): Promise<void> {
  // Promoted already (an activation finished again, its naming in Redis lost): a running
  // server without standby.signal takes writes; pg_ctl would fail on it.
  const standby = await stat(join(options.dataDir, 'standby.signal')).then(
    () => true,
    () => false,
  );
  if (!standby && (await postmasterStatus(options.dataDir)).running) return;
  const account = await serverAccount(options.osUser);
  const held =
    options.timelineFloor === undefined
      ? []
      : await holdTimelineFloor(options.dataDir, options.timelineFloor, account);
  try {
    await pgCtl('promote', options, account, ['--wait', '--timeout', String(options.timeoutSeconds ?? 120)]);
  } catch (error) {
    // Still a standby: it must not read those files as timelines to follow.
    if ((await postmasterStatus(options.dataDir)).running) await releaseTimelineFloor(held);
    throw error;
  }
}

/** Runs `pg_ctl <action> --pgdata <dataDir> <args>` as the server's account. */
async function pgCtl(
  action: 'start' | 'stop' | 'reload' | 'promote',
  server: LocalServer,
  account: OsAccount,
  args: readonly string[],
): Promise<void> {
  await runTool(
    `pg_ctl ${action} of ${server.dataDir}`,
    [await pgTool('pg_ctl', server.binDir), action, '--pgdata', server.dataDir, ...args],
    { as: account, ...(server.signal === undefined ? {} : { signal: server.signal }) },
  );
}

/**
 * Makes `dataDir` exist as PostgreSQL demands: owned by the server's account, mode
 * 0700. Its parent directories are created as needed and must let that account in.
 */
export async function ensureDataDir(dataDir: string, account: OsAccount): Promise<void> {
  // Parents get the usual 0755, so the server's account can reach the data directory.
  await mkdir(dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  if (isRoot()) await chown(dataDir, account.uid, account.gid);
  await chmod(dataDir, 0o700);
}

async function ensureOwnedFile(path: string, account: OsAccount): Promise<void> {
  const dir = dirname(path);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (isRoot() && created !== undefined) {
    for (let current = dir; ; current = dirname(current)) {
      await chown(current, account.uid, account.gid);
      if (current === created || current === dirname(current)) break;
    }
  }
  await (await open(path, 'a', 0o600)).close();
  if (isRoot() && (await stat(path)).uid !== account.uid) await chown(path, account.uid, account.gid);
}
