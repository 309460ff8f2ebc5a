import { access, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { InstancePosition } from '@pullback/pipeline/core';
import { setAutoConf } from './auto-conf.js';
import { conninfo, type PgEndpoint } from './connection.js';
import { clearDemotion } from './demote.js';
import { chownTree, isRoot, type OsAccount, serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { forgetPullbackSlots } from './pullback-slots.js';
import { query } from './query.js';
import { PgQueryError } from './query-error.js';
import { runTool } from './run-tool.js';
import {
  ensureDataDir,
  logFileOf,
  reloadServer,
  type StartOptions,
  startServer,
  stopServer,
} from './server-control.js';
import { serverPosition } from './server-position.js';
import { pgTool } from './tools.js';
import { spoolDirOf, spoolRestoreCommand } from './wal-spool.js';

/** Where PostgreSQL puts its sockets on Debian. */
export const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

export interface StandbyOptions extends StartOptions {
  /** This instance's own port. */
  readonly port: number;
  /** This instance's own listen_addresses, e.g. its host from the config. */
  readonly listenAddresses: string;
  /** unix_socket_directories, also used for the checks. Default: /var/run/postgresql. */
  readonly socketDir?: string;
  /** The role the checks connect as. Default: `postgres`. */
  readonly user?: string;
  /** The active to stream from while it can be reached (primary_conninfo). */
  readonly primary?: PgEndpoint;
  /** restore_command fetching archived WAL (`%f`, `%p`), for when the active cannot be reached. */
  readonly restoreCommand?: string;
  /**
   * Its import agent serves archived WAL through the spool (wal-spool.ts): the spool
   * is made, owned by the server's account, and restore_command takes from it.
   * Default: false.
   */
  readonly walSpool?: boolean;
  /** More settings for postgresql.auto.conf. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Check the restored files against the backup_manifest with pg_verifybackup first. Default: true. */
  readonly verify?: boolean;
}

/** Files of a previous server that must not survive into the restored one. */
const LEFTOVERS = ['postmaster.pid', 'postmaster.opts', 'recovery.signal', 'standby.signal'];

/**
 * Turns a data directory restored from a physical snapshot into a running hot
 * standby: owned by the server's account with mode 0700, checked against its
 * backup_manifest, given this instance's own port, addresses and socket directory
 * (the base backup carries the active's), set to follow the active and/or replay
 * archived WAL, started, and checked to be up, in recovery and refusing writes.
 */
export async function startStandby(options: StandbyOptions): Promise<InstancePosition> {
  const { dataDir } = options;
  const account = await serverAccount(options.osUser);
  if ((await postmasterStatus(dataDir)).running) {
    throw new Error(`a server is running on ${dataDir}; stop it before restoring into it`);
  }
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    throw new Error(`${dataDir} holds no restored data directory (PG_VERSION is missing)`);
  }
  for (const name of LEFTOVERS) await rm(join(dataDir, name), { force: true });
  await ensureDataDir(dataDir, account);
  await chownTree(dataDir, account);
  if (options.verify !== false && (await exists(join(dataDir, 'backup_manifest')))) {
    await verifyBackup(options, account);
  }

  await writeMissingConfig(dataDir, account);
  if (options.walSpool === true) {
    // The agent answers asks left by a previous run: old ones must not be taken for new.
    await rm(spoolDirOf(dataDir), { recursive: true, force: true });
  }
  const restoreCommand = await walSource(options, account);
  // A demotion interrupted before it cleaned up must not make this server read-only once promoted.
  await clearDemotion(options);
  await forgetPullbackSlots(dataDir);
  const socketDir = options.socketDir ?? DEFAULT_SOCKET_DIR;
  await setAutoConf(
    dataDir,
    {
      port: String(options.port),
      listen_addresses: options.listenAddresses,
      unix_socket_directories: socketDir,
      hot_standby: 'on',
      // Reset deliberately: settings the active carried must not point this one anywhere.
      primary_conninfo: options.primary === undefined ? '' : conninfo(options.primary, 'postgres', {}),
      primary_slot_name: '',
      restore_command: restoreCommand,
      recovery_target_timeline: 'latest',
      ...options.settings,
    },
    account,
  );
  await writeFile(join(dataDir, 'standby.signal'), '', { mode: 0o600 });
  await chownTree(dataDir, account);

  try {
    await startServer(options);
    const local: PgEndpoint = { host: socketDir, port: options.port, user: options.user ?? 'postgres' };
    return await checkStandby(local, { as: account, ...pick(options) });
  } catch (error) {
    // A server that failed its checks (or is still starting) must not stay up unnoticed,
    // least of all one that takes writes.
    await stopServer(options).catch(() => {});
    throw error;
  }
}

/**
 * Points a running standby at `options.primary` and its WAL source again, without a
 * restart (both settings take effect on reload): a fallback left running by an
 * import keeps following the current active, and one set up before its agent served
 * archived WAL gets the spool.
 */
export async function retargetStandby(
  options: Pick<
    StandbyOptions,
    'dataDir' | 'osUser' | 'binDir' | 'primary' | 'restoreCommand' | 'walSpool' | 'signal'
  >,
): Promise<void> {
  const account = await serverAccount(options.osUser);
  await setAutoConf(
    options.dataDir,
    {
      primary_conninfo: options.primary === undefined ? '' : conninfo(options.primary, 'postgres', {}),
      restore_command: await walSource(options, account),
    },
    account,
  );
  await reloadServer(options);
}

/** The restore_command of a standby; with a spool, the spool made and owned by the server's account. */
async function walSource(
  options: Pick<StandbyOptions, 'dataDir' | 'restoreCommand' | 'walSpool'>,
  account: OsAccount,
): Promise<string> {
  if (options.walSpool !== true) return options.restoreCommand ?? '';
  const spool = spoolDirOf(options.dataDir);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  if (isRoot()) await chown(spool, account.uid, account.gid);
  return spoolRestoreCommand(spool);
}

/**
 * Fails unless the server is in recovery and refuses a write. The write is a
 * temporary table in a transaction that is rolled back, so it changes nothing even
 * on a server that wrongly accepts it.
 */
export async function checkStandby(
  endpoint: PgEndpoint,
  options: { as?: OsAccount; binDir?: string; signal?: AbortSignal },
): Promise<InstancePosition> {
  const position = await serverPosition(endpoint, options);
  if (position.inRecovery !== true)
    throw new Error(`${endpoint.host} port ${endpoint.port} is not in recovery`);
  const refused = await query(
    endpoint,
    'begin; create temporary table pullback_write_probe (); rollback;',
    options,
  ).then(
    () => undefined,
    (error: Error) => error,
  );
  if (refused === undefined) throw new Error(`port ${endpoint.port} accepted a write; it is not read-only`);
  // SQLSTATE read_only_sql_transaction; any other error is a failure of its own.
  if (!(refused instanceof PgQueryError && refused.code === '25006')) throw refused;
  return position;
}

/** pg_verifybackup: every restored file against the manifest's checksums, and the WAL it needs. */
async function verifyBackup(options: StandbyOptions, account: OsAccount): Promise<void> {
  // A restore rewrites tablespace_map to where it put each tablespace (restoreWithTablespaces).
  const ignore: string[] = ['--ignore', 'tablespace_map'];
  const log = relative(options.dataDir, logFileOf(options));
  if (!log.startsWith('..')) ignore.push('--ignore', log.split('/')[0]!);
  await runTool(
    `pg_verifybackup of ${options.dataDir}`,
    [await pgTool('pg_verifybackup', options.binDir), '--quiet', ...ignore, options.dataDir],
    { as: account, ...(options.signal === undefined ? {} : { signal: options.signal }) },
  );
}

/**
 * An active that keeps its configuration outside the data directory (Debian's
 * /etc/postgresql) leaves none in the backup; the server will not start without
 * these files. They get PostgreSQL's defaults and local peer authentication.
 */
export async function writeMissingConfig(dataDir: string, account: OsAccount): Promise<void> {
  const files: Record<string, string> = {
    'postgresql.conf':
      '# written by pullback: the active keeps its configuration outside its data directory\n',
    'pg_hba.conf': [
      '# written by pullback: the active keeps its configuration outside its data directory',
      'local   all           all                   peer',
      'local   replication   all                   peer',
      'host    all           all     127.0.0.1/32  scram-sha-256',
      'host    all           all     ::1/128       scram-sha-256',
      '',
    ].join('\n'),
    'pg_ident.conf': '',
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(dataDir, name);
    if (await exists(path)) continue;
    await writeFile(path, text, { mode: 0o600 });
    if (isRoot()) await chown(path, account.uid, account.gid);
  }
}

function pick(options: StandbyOptions): { binDir?: string; signal?: AbortSignal } {
  return {
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
