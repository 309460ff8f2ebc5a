import { access, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstancePosition } from '@pullback/pipeline/core';
import { conninfo, describeEndpoint, type PgEndpoint } from './connection.js';
import { isRoot, serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { query } from './query.js';
import { PgQueryError } from './query-error.js';
import { runTool } from './run-tool.js';
import { type StandbyOptions, startStandby } from './standby.js';
import { pgTool } from './tools.js';

/**
 * The new active did not answer (down, starting, shutting down) when asked for the
 * checkpoint before pg_rewind: nothing was touched, and a later try may do.
 */
export class RewindSourceUnavailableError extends Error {
  override readonly name = 'RewindSourceUnavailableError';
}

/** SQLSTATEs of a server that is starting or shutting down: it will answer, or another will be active. */
const NOT_NOW = new Set(['57P01', '57P02', '57P03']);

export interface RewindOptions extends Omit<StandbyOptions, 'primary' | 'verify'> {
  /** The new active: rewound against, then followed (primary_conninfo). */
  readonly primary: PgEndpoint;
}

/**
 * Brings a former active back as a standby of the new active (docs/election.md
 * "Rejoin"): `pg_rewind` undoes the writes it took after the new active's timeline
 * forked from it, copying what changed from the new active, then the data directory
 * gets this instance's own settings and standby.signal and is started and checked as
 * startStandby does (in recovery, refusing writes). It is never started otherwise.
 *
 * pg_rewind needs the target to have been initialised with data checksums or to run
 * with `wal_log_hints = on`, the source to run with `full_page_writes = on` (the
 * default), and the target's WAL back to the last checkpoint before the fork. A
 * target that was not shut down cleanly (crashed, SIGKILLed) gets crash recovery in
 * single-user mode from pg_rewind first (PostgreSQL 13 and later). When it cannot
 * rewind, this fails with pg_rewind's one line and the instance needs reseeding;
 * when the new active does not answer, with RewindSourceUnavailableError, before
 * anything is touched.
 */
export async function rewindServer(options: RewindOptions): Promise<InstancePosition> {
  const { dataDir, primary } = options;
  const account = await serverAccount(options.osUser);
  if ((await postmasterStatus(dataDir)).running) {
    throw new Error(`a server is running on ${dataDir}; stop it before rewinding it`);
  }
  if (!(await exists(join(dataDir, 'PG_VERSION')))) {
    throw new Error(`${dataDir} holds no data directory to rewind (PG_VERSION is missing)`);
  }
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const unavailable = (error: Error) => {
    if (error instanceof PgQueryError && !NOT_NOW.has(error.code)) throw error;
    throw new RewindSourceUnavailableError(error.message, { cause: error });
  };
  // An agent can learn of an activation before its candidate is promoted: rewound
  // against a server still in recovery, pg_rewind finds nothing to undo and this one
  // would follow it as a standby past the fork, stuck there (soak:election saw it).
  if ((await query(primary, 'select pg_is_in_recovery()', signal).catch(unavailable)) === 't') {
    throw new RewindSourceUnavailableError(
      `${describeEndpoint(primary)} is still in recovery (not promoted yet): not rewound against it`,
    );
  }
  // PostgreSQL 15's pg_rewind reads the source's timeline from pg_control, which a
  // promotion updates only at its first checkpoint: before it, the source looks as if
  // it were still on the old timeline ("no rewind required").
  await query(primary, 'checkpoint', signal).catch(unavailable);
  await runTool(
    `pg_rewind of ${dataDir} from ${describeEndpoint(primary)}`,
    [
      await pgTool('pg_rewind', options.binDir),
      '--target-pgdata',
      dataDir,
      '--source-server',
      conninfo(primary),
    ],
    { as: account, ...signal },
  );
  // At once: should this process die before startStandby, the next start of this data
  // directory is as a standby all the same, never as a second active.
  const standbySignal = join(dataDir, 'standby.signal');
  await writeFile(standbySignal, '', { mode: 0o600 });
  if (isRoot()) await chown(standbySignal, account.uid, account.gid);
  // pg_rewind copied the new active's configuration files (its port, its addresses,
  // its auto.conf): startStandby writes this instance's own over them. The backup
  // manifest, if any, is of an older restore and no longer describes these files.
  return startStandby({ ...options, verify: false });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
