import { join, resolve } from 'node:path';
import { type Archive, type ProgressListener, restoreSnapshot, type Snapshot } from '@pullback/archive';
import {
  createScratchServer,
  pgTool,
  postmasterStatus,
  restoreLogical,
  startStandby,
  stopServer,
} from '@pullback/recipe-postgres';

/** A restored snapshot running read-only for an audit. */
export interface AuditServer {
  readonly kind: 'physical' | 'logical';
  readonly port: number;
  /** The server's data directory. */
  readonly dataDir: string;
  /** The postmaster's process id. */
  readonly pid: number | undefined;
  /** What to type to connect. */
  readonly connect: string;
  /** What to type to stop it. */
  readonly stopCommand: string;
  /** Logical: the databases restored. */
  readonly databases?: readonly string[];
  stop(): Promise<void>;
}

export interface AuditOptions {
  readonly target: string;
  readonly port: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/**
 * `restore --start`: restores a PostgreSQL snapshot and runs it read-only on `port`.
 * A physical one becomes a hot standby with no upstream and no restore_command: it
 * replays the WAL the base backup carries, stays in recovery, and refuses writes (the
 * recipe checks both before it returns), so an audit can never fork the history. A
 * logical one (`kind: logical`) is restored as dumps into `<target>/dumps` and
 * replayed into a new scratch cluster in `<target>/pgdata`.
 */
export async function startAuditServer(
  archive: Archive,
  snapshot: Snapshot,
  options: AuditOptions,
): Promise<AuditServer> {
  const target = resolve(options.target);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const progress = options.onProgress === undefined ? {} : { onProgress: options.onProgress };
  if (snapshot.tags.recipe !== undefined && snapshot.tags.recipe !== 'postgres') {
    throw new Error(
      `snapshot ${snapshot.id.slice(0, 12)} is of the ${snapshot.tags.recipe} recipe; --start runs PostgreSQL snapshots only`,
    );
  }
  const pgCtl = await pgTool('pg_ctl');

  if (snapshot.tags.kind === 'logical') {
    const dumps = join(target, 'dumps');
    const dataDir = join(target, 'pgdata');
    await restoreSnapshot(archive, snapshot.id, { target: dumps, ...signal, ...progress });
    const server = await createScratchServer({ dataDir, port: options.port, ...signal });
    try {
      const databases = await restoreLogical(dumps, server, signal);
      return {
        kind: 'logical',
        port: options.port,
        dataDir,
        pid: (await postmasterStatus(dataDir)).pid,
        // TCP logins on a scratch cluster need a password; its Unix socket is trusted.
        connect: `psql -h ${dataDir} -p ${options.port} -U postgres`,
        stopCommand: asServerAccount(`${pgCtl} stop -D ${dataDir}`),
        databases,
        stop: () => server.stop(),
      };
    } catch (error) {
      await server.stop().catch(() => {});
      throw error;
    }
  }

  await restoreSnapshot(archive, snapshot.id, { target, ...signal, ...progress });
  await startStandby({
    dataDir: target,
    port: options.port,
    listenAddresses: '127.0.0.1',
    // Its own data directory: always there, reachable by the server's account, and
    // no dependence on /var/run/postgresql existing on this machine.
    socketDir: target,
    timeoutSeconds: 120,
    ...signal,
  });
  return {
    kind: 'physical',
    port: options.port,
    dataDir: target,
    pid: (await postmasterStatus(target)).pid,
    connect: `psql -h 127.0.0.1 -p ${options.port} -U postgres`,
    stopCommand: asServerAccount(`${pgCtl} stop -D ${target}`),
    stop: async () => {
      await stopServer({ dataDir: target });
    },
  };
}

/** PostgreSQL's tools refuse root: as root, the command runs as the postgres account. */
function asServerAccount(command: string): string {
  return process.getuid?.() === 0 ? `su postgres -c '${command}'` : command;
}
