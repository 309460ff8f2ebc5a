import { unsetAutoConf } from './auto-conf.js';
import type { PgEndpoint } from './connection.js';
import { serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { query } from './query.js';
import { type LocalServer, stopServer } from './server-control.js';

/** The setting demotion turns on, and takes off again once the server has stopped. */
const READ_ONLY = 'default_transaction_read_only';

/** A demotion must not wait on a server too busy to answer: it stops the server anyway. */
const STATEMENT_TIMEOUT_MS = 5000;

export interface DemoteOptions extends LocalServer {
  /** How to reach it as a superuser: its socket directory (or host) and port. */
  readonly endpoint: PgEndpoint;
  /** How long the fast shutdown may take. Default: 120 s. */
  readonly timeoutSeconds?: number;
}

/**
 * Makes a running server refuse writes at once (docs/election.md "The safety rule"):
 * every new transaction, and every session that has not set it itself, is read-only
 * after the reload, and every other client session is ended, so no transaction begun
 * before keeps writing.
 */
export async function refuseWrites(options: DemoteOptions): Promise<void> {
  const account = await serverAccount(options.osUser);
  const queryOptions = {
    as: account,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  // Separate statements: ALTER SYSTEM cannot run inside the implicit transaction of several.
  await query(options.endpoint, `alter system set ${READ_ONLY} = on`, queryOptions);
  await query(options.endpoint, 'select pg_reload_conf()', queryOptions);
  await query(
    options.endpoint,
    `select count(pg_terminate_backend(pid)) from pg_stat_activity
      where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    queryOptions,
  );
}

/**
 * Demotes the server of `dataDir`: refuses writes at once (refuseWrites), then stops it
 * with a fast shutdown. Returns whether one was running. A server that cannot be asked
 * (hung, out of connections) is stopped all the same: stopping is what counts, the
 * read-only step only closes the seconds a shutdown takes.
 *
 * The read-only setting is removed from postgresql.auto.conf once the server has
 * stopped: it is for the shutdown only, and a server started again afterwards (as a
 * standby, later promoted) must take writes when it is the active. An agent killed
 * between the two leaves it set, on the safe side; startStandby removes it too.
 */
export async function demoteServer(options: DemoteOptions): Promise<boolean> {
  if (!(await postmasterStatus(options.dataDir)).running) {
    await clearDemotion(options);
    return false;
  }
  // A failure here is no reason not to stop: the stop below ends every session anyway.
  await refuseWrites(options).catch(() => {});
  await stopServer(options);
  await clearDemotion(options);
  return true;
}

/** Takes the read-only setting demotion left out of the server's configuration. */
export async function clearDemotion(options: Pick<LocalServer, 'dataDir' | 'osUser'>): Promise<void> {
  await unsetAutoConf(options.dataDir, [READ_ONLY], await serverAccount(options.osUser));
}
