import type { InstancePosition } from '@pullback/pipeline';
import { serverAccount } from './os-user.js';
import { postmasterStatus } from './postmaster.js';
import { serverPosition } from './server-position.js';
import { DEFAULT_SOCKET_DIR } from './standby.js';

export interface LocalInstance {
  readonly dataDir: string;
  readonly port: number;
  /** Default: the one postmaster.pid names, else /var/run/postgresql. */
  readonly socketDir?: string;
  /** Default: `postgres`. */
  readonly user?: string;
  readonly osUser?: string;
  readonly binDir?: string;
  readonly signal?: AbortSignal;
}

/**
 * Where a local fallback is: not running (no live postmaster.pid), or its replayed
 * LSN and time, asked over its Unix socket as the server's account.
 */
export async function replayPosition(instance: LocalInstance): Promise<InstancePosition> {
  const status = await postmasterStatus(instance.dataDir);
  if (!status.running) return { running: false };
  return serverPosition(
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
}
