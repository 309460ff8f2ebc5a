import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { holdLock, type InstanceConfig, PipelineError, type Registry } from '@pullback/pipeline';
import { postmasterStatus, RewindSourceUnavailableError, rewindServer } from '@pullback/recipe-postgres';
import type { EpochRecordStore } from './epoch-record.js';

/** How the agent reaches and runs its own server when it sets it up again; the postgres recipe's defaults when not given. */
export interface LocalServerSettings {
  /** unix_socket_directories of the server. Default: /var/run/postgresql. */
  readonly socketDir?: string;
  /** Its operating-system account. Default: `postgres`. */
  readonly osUser?: string;
  readonly binDir?: string;
  /** The role the checks and pg_rewind connect as. Default: `postgres`. */
  readonly user?: string;
  /** Seconds to wait for it to accept connections. Default: 300. */
  readonly startTimeoutSeconds?: number;
}

export interface RejoinOptions {
  readonly instance: InstanceConfig;
  /** Every instance of its component: where the active its record names runs. */
  readonly instances: readonly InstanceConfig[];
  readonly record: EpochRecordStore;
  readonly registry: Registry;
  readonly server?: LocalServerSettings;
}

/** The import lock's TTL while a rewind runs; renewed every third of it. */
const LOCK_TTL_MS = 60_000;

/**
 * The old active's rejoin (docs/election.md "Rejoin"), for a data directory with no
 * standby.signal: only when this instance's epoch record names *another* instance
 * active, it is rewound against that one and started as its streaming standby
 * (rewindServer: never started without standby.signal). It holds the instance's
 * import lock (`import.<instance>`, as applySnapshot does), so it never runs while
 * the import role restores onto the same directory, nor while a switchover's
 * `rejoinOldActive` starts it as a standby (workers/election rejoin-old-active.ts,
 * under the same lock). Resolves with a reason when it did not try now: the lock is
 * held, or, once it holds it, the directory is no old active's any more (a
 * standby.signal or a running server: whoever held the lock before set it up);
 * throws, in one line ending in "it needs
 * reseeding", when it cannot rejoin. An agent that stops meanwhile waits for it, as
 * for a start: a pg_rewind cut short leaves a data directory only a reseed repairs.
 * Only the lock's loss (Redis away for its whole TTL) cuts it short.
 */
export function rejoinAsFallback(options: RejoinOptions): () => Promise<string | undefined> {
  const { instance } = options;
  const needsReseed = (why: string) => new Error(`${why}; it needs reseeding`);
  return async () => {
    const recorded = await options.record.read();
    if (recorded === undefined || recorded.active === instance.name) {
      // No newer epoch names another active: nothing says this directory is an old active to rewind.
      throw needsReseed(`${instance.dataDir} is not a standby's data directory (no standby.signal)`);
    }
    const active = options.instances.find((other) => other.name === recorded.active);
    if (active === undefined) {
      throw needsReseed(
        `its epoch record names ${recorded.active} active at epoch ${recorded.epoch}, which is not in the config`,
      );
    }
    const server = options.server ?? {};
    try {
      return await holdLock(
        options.registry,
        `import.${instance.name}`,
        { ttlMs: LOCK_TTL_MS, what: `rejoin of ${instance.name}` },
        async (held) => {
          // Seen without standby.signal before the lock was taken; the holder before may
          // have made it a standby since, and a pg_rewind now would undo that work.
          const meanwhile = await setUpMeanwhile(instance.dataDir);
          if (meanwhile !== undefined) return `${instance.name} ${meanwhile}`;
          return rewindServer({
            dataDir: instance.dataDir,
            port: instance.port,
            listenAddresses: instance.host,
            primary: { host: active.host, port: active.port, user: server.user ?? 'postgres' },
            ...(server.socketDir === undefined ? {} : { socketDir: server.socketDir }),
            ...(server.osUser === undefined ? {} : { osUser: server.osUser }),
            ...(server.binDir === undefined ? {} : { binDir: server.binDir }),
            ...(server.user === undefined ? {} : { user: server.user }),
            ...(server.startTimeoutSeconds === undefined
              ? {}
              : { timeoutSeconds: server.startTimeoutSeconds }),
            signal: held,
          }).then(
            () => undefined,
            (error: Error) => {
              if (held.aborted) throw error;
              // The new active down or starting (it may be failing over in turn): try
              // again; reported as a failure, the next import would reseed this one.
              if (error instanceof RewindSourceUnavailableError)
                return `${active.name}, the active to rewind it against, does not answer now: ${error.message}`;
              throw needsReseed(
                `cannot rewind it as a fallback of ${active.name} at epoch ${recorded.epoch}: ${error.message}`,
              );
            },
          );
        },
      );
    } catch (error) {
      // Another holds the lock (an import restoring it): not now, and no failure.
      if (error instanceof PipelineError && error.code === 'busy') return error.message;
      throw error;
    }
  };
}

/** What made `dataDir` a standby's, or a running server's, since it was seen as neither; undefined when nothing did. */
async function setUpMeanwhile(dataDir: string): Promise<string | undefined> {
  if ((await postmasterStatus(dataDir)).running) return 'runs already';
  const signal = await access(join(dataDir, 'standby.signal')).then(
    () => true,
    () => false,
  );
  return signal ? 'is a standby already (standby.signal)' : undefined;
}
