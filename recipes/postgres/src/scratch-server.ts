import { join } from 'node:path';
import { setAutoConf } from './auto-conf.js';
import type { PgEndpoint } from './connection.js';
import { type OsAccount, serverAccount } from './os-user.js';
import { runTool } from './run-tool.js';
import { ensureDataDir, startServer, stopServer } from './server-control.js';
import { pgTool } from './tools.js';

export interface ScratchServerOptions {
  /** A new (missing or empty) directory for the cluster. */
  readonly dataDir: string;
  readonly port: number;
  /** Default: the data directory itself, which only the server's account may enter. */
  readonly socketDir?: string;
  /** Default: `127.0.0.1`; `''` for none. TCP logins need a password (scram-sha-256). */
  readonly listenAddresses?: string;
  readonly osUser?: string;
  readonly binDir?: string;
  readonly signal?: AbortSignal;
}

/** A throwaway server for audits; `stop` stops it and leaves its files. */
export interface ScratchServer {
  readonly dataDir: string;
  readonly port: number;
  /** Reaches it over its Unix socket, as the `postgres` superuser; use `as` for the account. */
  readonly endpoint: PgEndpoint;
  readonly account: OsAccount;
  stop(): Promise<void>;
}

/**
 * Creates and starts an empty cluster to restore logical dumps into (initdb as the
 * server's account, UTF8, superuser `postgres`). Local connections are trusted: its
 * socket is in a directory only that account can enter.
 */
export async function createScratchServer(options: ScratchServerOptions): Promise<ScratchServer> {
  const account = await serverAccount(options.osUser);
  await ensureDataDir(options.dataDir, account);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  await runTool(
    `initdb of ${options.dataDir}`,
    [
      await pgTool('initdb', options.binDir),
      '--pgdata',
      options.dataDir,
      '--username',
      'postgres',
      '--encoding',
      'UTF8',
      '--auth-local',
      'trust',
      '--auth-host',
      'scram-sha-256',
    ],
    { as: account, ...signal },
  );
  const socketDir = options.socketDir ?? options.dataDir;
  await setAutoConf(
    options.dataDir,
    {
      port: String(options.port),
      listen_addresses: options.listenAddresses ?? '127.0.0.1',
      unix_socket_directories: socketDir,
    },
    account,
  );
  const server = {
    dataDir: options.dataDir,
    ...(options.osUser === undefined ? {} : { osUser: options.osUser }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
  };
  await startServer({
    ...server,
    ...signal,
    logFile: join(options.dataDir, 'log', 'postmaster.log'),
    timeoutSeconds: 60,
  });
  return {
    dataDir: options.dataDir,
    port: options.port,
    endpoint: { host: socketDir, port: options.port, user: 'postgres' },
    account,
    stop: async () => {
      await stopServer(server);
    },
  };
}
