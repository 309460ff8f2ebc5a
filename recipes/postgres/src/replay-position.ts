import type { InstancePosition } from '@pullback/pipeline/core';
import type { PgEndpoint } from './connection.js';
import { serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { bytesBehind, serverPosition } from './server-position.js';
import { DEFAULT_SOCKET_DIR } from './standby.js';
import { systemIdentifierOf } from './wal-spool.js';

export interface LocalInstance {
  readonly dataDir: string;
  readonly port: number;
  /** Default: the one postmaster.pid names, else /var/run/postgresql. */
  readonly socketDir?: string;
  /** Default: `postgres`. */
  readonly user?: string;
  readonly osUser?: string;
  readonly binDir?: string;
  /** The active it follows: asked for its current LSN, for `behindBytes`. */
  readonly upstream?: PgEndpoint;
  readonly signal?: AbortSignal;
}

/**
 * Where a local fallback is: not running (no live postmaster.pid), starting (its
 * postmaster runs but does not answer yet, as while a standby replays to a
 * consistent point), or its replayed LSN and time, WAL source and timeline, asked
 * over its Unix socket as the server's account; with how far behind its upstream it
 * is, when that one answers.
 */
export async function replayPosition(instance: LocalInstance): Promise<InstancePosition> {
  const status = await postmasterStatus(instance.dataDir);
  const lineage = async () => {
    const id = await systemIdentifierOf(instance.dataDir).catch(() => undefined);
    return id === undefined ? {} : { systemIdentifier: id };
  };
  if (!status.running) return { running: false, source: 'none', ...(await lineage()) };
  let position: InstancePosition;
  try {
    position = await serverPosition(
      {
        host: instance.socketDir ?? status.socketDir ?? DEFAULT_SOCKET_DIR,
        port: instance.port,
        user: instance.user ?? 'postgres',
      },
      {
        as: await serverAccount(instance.osUser),
        ...(instance.binDir === undefined ? {} : { binDir: instance.binDir }),
        ...(instance.signal === undefined ? {} : { signal: instance.signal }),
      },
    );
  } catch (error) {
    // Asked a moment before it reached a consistent point: it is on its way, not broken.
    if (!instance.signal?.aborted && (await postmasterStatus(instance.dataDir)).state === 'starting') {
      return { running: true, starting: true, ...(await lineage()) };
    }
    throw error;
  }
  if (instance.upstream === undefined || position.lsn === undefined || position.inRecovery !== true)
    return position;
  const behind = await bytesBehind(
    instance.upstream,
    position.lsn,
    instance.signal === undefined ? {} : { signal: instance.signal },
  );
  return behind === undefined ? position : { ...position, behindBytes: behind };
}
