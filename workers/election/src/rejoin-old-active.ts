import { hostname, networkInterfaces } from 'node:os';
import { holdLock, type InstanceConfig, PipelineError, type Registry } from '@pullback/pipeline';
import { followAsStandby, query, systemIdentifierOf } from '@pullback/recipe-postgres';

/** What became of the old active after a switchover. */
export type Rejoined =
  | { readonly following: true }
  /** `busy`: another holds its import lock (its agent's rejoin, an import), which sets it up. */
  | { readonly following: false; readonly why: string; readonly busy?: true };

/**
 * Starts the old active of a switchover again as a streaming fallback of the new one
 * (docs/election.md "Switchover"), when its data directory is on this host. Shut down
 * cleanly and replayed to its last record by the new active before the promotion, it
 * ends where the new timeline forks: standby.signal and primary_conninfo suffice, no
 * rewind. On another host it is left stopped: its agent's supervisor rejoins it.
 *
 * "On this host": its address is one of this host's and its data directory is a copy
 * of the new active's cluster (same system identifier), so a same-path data directory
 * of another instance on this host is never taken for it.
 */
export async function rejoinOldActive(
  old: InstanceConfig,
  newActive: InstanceConfig,
  registry: Registry,
  options: { user?: string; timeoutSeconds?: number } = {},
): Promise<Rejoined> {
  if (!isLocalAddress(old.host)) return { following: false, why: `${old.host} is not this host` };
  const [here, there] = await Promise.all([
    systemIdentifierOf(old.dataDir).catch(() => undefined),
    query(
      { host: newActive.host, port: newActive.port, user: options.user ?? 'postgres' },
      'select system_identifier::text from pg_control_system()',
      { statementTimeoutMs: 3000 },
    ).catch(() => undefined),
  ]);
  if (here === undefined || here !== there) {
    return { following: false, why: `${old.dataDir} on this host is not its data directory` };
  }
  try {
    await holdLock(
      registry,
      `import.${old.name}`,
      { ttlMs: LOCK_TTL_MS, what: `rejoin of ${old.name}` },
      () =>
        followAsStandby({
          dataDir: old.dataDir,
          primary: { host: newActive.host, port: newActive.port, user: options.user ?? 'postgres' },
          timeoutSeconds: options.timeoutSeconds ?? 120,
        }),
    );
  } catch (error) {
    if (error instanceof PipelineError && error.code === 'busy')
      return { following: false, why: error.message, busy: true };
    throw error;
  }
  return { following: true };
}

/** The import lock's TTL while the old active starts; renewed every third of it. */
const LOCK_TTL_MS = 60_000;

function isLocalAddress(host: string): boolean {
  if (host === 'localhost' || host === hostname()) return true;
  return Object.values(networkInterfaces()).some((addresses) =>
    (addresses ?? []).some((address) => address.address === host),
  );
}
