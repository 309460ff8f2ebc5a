import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  AuditServer,
  PointInTimeInput,
  PointInTimeResult,
  RecoveryTarget,
} from '@pullback/pipeline/core';
import { RecipeError } from '@pullback/pipeline/core';
import { setAutoConf } from './auto-conf.js';
import type { PgEndpoint } from './connection.js';
import { lastRecordLsn } from './last-record.js';
import { oneLine } from './one-line.js';
import { chownTree, type OsAccount, serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { queryJson } from './query.js';
import { ensureDataDir, logFileOf, startServer, stopServer } from './server-control.js';
import { checkStandby, writeMissingConfig } from './standby.js';
import { pgTool } from './tools.js';

/** Files of the active (or an earlier restore) that must not survive into the restored server. */
const LEFTOVERS = ['postmaster.pid', 'postmaster.opts', 'recovery.signal', 'standby.signal'];

/** How often the wait for the target asks the server where it is. */
const POLL_MS = 250;

/**
 * `restore --at/--lsn/--name/--xid`: the base snapshot restored into `target`, the
 * archived WAL it needs placed in its pg_wal, and archive recovery set to stop at the
 * target (recovery.signal, recovery_target_*, and no restore_command or upstream: it
 * replays exactly what was placed). With a port it is started and waited for until it
 * pauses at the target (read-only, checked) or, with `promote`, takes writes.
 */
export async function restoreToPoint(input: PointInTimeInput): Promise<PointInTimeResult> {
  const dataDir = resolve(input.target);
  const account = await serverAccount();
  await input.restore(dataDir);
  await input.placeWal(join(dataDir, 'pg_wal'));
  for (const name of LEFTOVERS) await rm(join(dataDir, name), { force: true });
  await ensureDataDir(dataDir, account);
  await writeMissingConfig(dataDir, account);
  await setAutoConf(
    dataDir,
    {
      ...(input.port === undefined ? {} : { port: String(input.port) }),
      listen_addresses: '127.0.0.1',
      // Its own data directory: always there and reachable by the server's account.
      unix_socket_directories: dataDir,
      hot_standby: 'on',
      // Nothing the active carried may point this server anywhere: no upstream, no
      // archive to fetch from or push to, no synchronous standby to wait for.
      primary_conninfo: '',
      primary_slot_name: '',
      // Archive recovery demands a restore_command; this one never finds a file, so
      // replay reads only what was placed in pg_wal.
      restore_command: 'false',
      archive_mode: 'off',
      synchronous_standby_names: '',
      ...recoveryTargetSettings(input.recoveryTarget),
      recovery_target_timeline: String(input.timeline),
      recovery_target_action: input.promote ? 'promote' : 'pause',
    },
    account,
  );
  await writeFile(join(dataDir, 'recovery.signal'), '', { mode: 0o600 });
  await chownTree(dataDir, account);
  if (input.port === undefined) return { dataDir };

  const logStart = await logSize(dataDir);
  try {
    return await startAtTarget(dataDir, input, account);
  } catch (error) {
    // A server that missed its target must not stay up unnoticed, least of all a writable one.
    await stopServer({ dataDir }).catch(() => {});
    if (input.recoveryTarget.kind !== 'time' || !(await ranOutOfWal(dataDir, logStart))) {
      throw await explainFailure(error, dataDir, logStart);
    }
  }
  // No commit after the time in the WAL placed: the state at that time is the one at
  // the WAL's end, so recovery stops after its last record instead.
  const last = await lastRecordLsn(dataDir);
  if (last === undefined)
    throw await explainFailure(new Error('no WAL record to stop at'), dataDir, logStart);
  await setAutoConf(dataDir, recoveryTargetSettings({ kind: 'lsn', lsn: last }), account);
  const retryLogStart = await logSize(dataDir);
  try {
    return await startAtTarget(dataDir, input, account);
  } catch (error) {
    await stopServer({ dataDir }).catch(() => {});
    throw await explainFailure(error, dataDir, retryLogStart);
  }
}

/** Starts the prepared directory and waits until it is at its target, checked. */
async function startAtTarget(
  dataDir: string,
  input: PointInTimeInput & { port?: number },
  account: OsAccount,
): Promise<PointInTimeResult> {
  const port = input.port!;
  const signal = input.signal === undefined ? {} : { signal: input.signal };
  await startServer({ dataDir, timeoutSeconds: 3600, ...signal });
  const endpoint: PgEndpoint = { host: dataDir, port, user: 'postgres' };
  const reached = await waitForTarget(dataDir, endpoint, input, account);
  if (!input.promote) await checkStandby(endpoint, { as: account, ...signal });
  const pgCtl = await pgTool('pg_ctl');
  const server: AuditServer = {
    kind: 'physical',
    port,
    dataDir,
    pid: (await postmasterStatus(dataDir)).pid,
    connect: `psql -h 127.0.0.1 -p ${port} -U postgres`,
    stopCommand: asServerAccount(`${pgCtl} stop -D ${dataDir}`),
    stop: async () => {
      await stopServer({ dataDir });
    },
  };
  return { dataDir, server, reached };
}

/**
 * The recovery_target_* settings: the others emptied first, then the target's own
 * (PostgreSQL refuses a second target, and checks as it reads, in file order).
 */
export function recoveryTargetSettings(target: RecoveryTarget): Record<string, string> {
  const own: Record<RecoveryTarget['kind'], [string, string]> = {
    time: ['recovery_target_time', target.kind === 'time' ? postgresTime(target.time) : ''],
    lsn: ['recovery_target_lsn', target.kind === 'lsn' ? target.lsn : ''],
    name: ['recovery_target_name', target.kind === 'name' ? target.name : ''],
    xid: ['recovery_target_xid', target.kind === 'xid' ? target.xid : ''],
  };
  const emptied = Object.entries(own)
    .filter(([kind]) => kind !== target.kind)
    .map(([, [key]]) => [key, '']);
  return {
    recovery_target: '',
    ...Object.fromEntries(emptied),
    [own[target.kind][0]]: own[target.kind][1],
    recovery_target_inclusive: 'on',
  };
}

/** An ISO 8601 time as recovery_target_time reads it (it takes no `T` and no `Z`). */
function postgresTime(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '+00');
}

interface RecoveryState {
  readonly inRecovery: boolean;
  readonly pause: string | null;
  readonly lsn: string | null;
  readonly replayedAt: string | null;
  readonly timeline: number | null;
}

const STATE_SQL = `select json_build_object(
  'inRecovery', pg_is_in_recovery(),
  'pause', case when pg_is_in_recovery() then pg_get_wal_replay_pause_state() end,
  'lsn', (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text,
  'replayedAt', pg_last_xact_replay_timestamp(),
  'timeline', case when pg_is_in_recovery() then null
    else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end
)`;

/**
 * Waits until replay stops at the target: paused there (pg_get_wal_replay_pause_state)
 * or, with `promote`, out of recovery. A server that stops instead (the WAL ended
 * before the target) fails with the end of its log.
 */
async function waitForTarget(
  dataDir: string,
  endpoint: PgEndpoint,
  input: PointInTimeInput,
  account: OsAccount,
): Promise<NonNullable<PointInTimeResult['reached']>> {
  for (;;) {
    input.signal?.throwIfAborted();
    if (!(await postmasterStatus(dataDir)).running) {
      throw new Error(`the server on ${dataDir} stopped before reaching the target`);
    }
    const state = await queryJson<RecoveryState>(endpoint, STATE_SQL, {
      as: account,
      ...(input.signal === undefined ? {} : { signal: input.signal }),
    }).catch(() => undefined);
    const done = state !== undefined && (input.promote ? !state.inRecovery : state.pause === 'paused');
    if (state !== undefined && done) {
      return {
        lsn: state.lsn ?? '',
        ...(state.replayedAt === null ? {} : { replayedAt: new Date(state.replayedAt).toISOString() }),
        ...(state.timeline === null ? {} : { timeline: state.timeline }),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const RAN_OUT = 'recovery ended before configured recovery target was reached';

/** The FATAL or PANIC lines the server logged since `from` (a byte offset). */
async function fatalLines(dataDir: string, from: number): Promise<string[]> {
  const log = await readFile(logFileOf({ dataDir })).catch(() => Buffer.alloc(0));
  return log
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((line) => /FATAL|PANIC/.test(line));
}

async function ranOutOfWal(dataDir: string, from: number): Promise<boolean> {
  return (await fatalLines(dataDir, from)).some((line) => line.includes(RAN_OUT));
}

async function logSize(dataDir: string): Promise<number> {
  return stat(logFileOf({ dataDir })).then(
    (info) => info.size,
    () => 0,
  );
}

/** The reason PostgreSQL gave, from its log since `from`, as one line naming the data directory. */
async function explainFailure(error: unknown, dataDir: string, from: number): Promise<Error> {
  const fatal = (await fatalLines(dataDir, from)).at(-1);
  if (fatal?.includes(RAN_OUT)) {
    return new RecipeError(
      `replay of ${dataDir} ran out of WAL before the recovery target; the archive holds no transaction after it`,
      { hint: 'choose a target inside the range `pullback snapshots` shows', cause: error },
    );
  }
  const message = (error as Error).message;
  return new RecipeError(
    `point-in-time restore into ${dataDir}: ${message}${fatal === undefined ? '' : `; ${oneLine(fatal, 300)}`}`,
    { cause: error },
  );
}

/** PostgreSQL's tools refuse root: as root, the command runs as the postgres account. */
function asServerAccount(command: string): string {
  return process.getuid?.() === 0 ? `su postgres -c '${command}'` : command;
}
