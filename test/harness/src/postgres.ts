import { execFile } from 'node:child_process';
import { appendFile, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { postgresBinDir } from './find-executable.js';
import { freePort } from './free-port.js';
import { scratchDir } from './scratch-dir.js';
import { type RunningServer, startServer } from './server-process.js';

const execFileAsync = promisify(execFile);

export interface PostgresServer extends RunningServer {
  readonly dataDir: string;
  /** The directory of the server's Unix socket. */
  readonly socketDir: string;
  /** Where the server binaries are (initdb, pg_basebackup, pgbench ...). */
  readonly binDir: string;
  /** A libpq URL for database `database` (default `postgres`) as the `postgres` superuser. */
  connectionString(database?: string): string;
  /** Runs SQL through psql and returns its unaligned, tuples-only output, trimmed. */
  psql(sql: string, database?: string): Promise<string>;
  /** The postmaster's current process id (it changes with `restart`). */
  readonly currentPid: () => number;
  /**
   * The host dies: SIGKILL to the postmaster and every process it started, at once,
   * so no backend lives on to send what the postmaster had not.
   */
  crash(): Promise<void>;
  /** Starts the server again on the same data directory and port (crash recovery after `crash`). */
  restart(): Promise<void>;
}

export interface PostgresOptions {
  /** Extra postgresql.conf settings, appended after the harness's own. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The WAL segment the cluster starts writing in (`pg_resetwal -l`), for code that
   * must hold positions past 2^32 as real servers' are. Default: initdb's first.
   */
  readonly walStart?: string;
}

/** The uid and gid that PostgreSQL runs as: `postgres` when we are root (it refuses root). */
export async function postgresOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) => Number((await execFileAsync('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/**
 * Creates and starts a throwaway PostgreSQL cluster on 127.0.0.1: initdb with data
 * checksums, trust authentication and replication allowed locally, owned by the
 * `postgres` user, and removed on stop. fsync is off: these clusters are disposable.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = await postgresBinDir();
  const owner = await postgresOwner();
  const scratch = await scratchDir('pg');
  const dataDir = join(scratch.path, 'data');
  const socketDir = join(scratch.path, 'socket');
  await mkdir(socketDir);
  if (owner) {
    await chown(scratch.path, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};

  try {
    await execFileAsync(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--data-checksums', '--encoding=UTF8', '--locale=C'],
      { ...asOwner, cwd: scratch.path },
    );
    if (options.walStart !== undefined) {
      await execFileAsync(join(binDir, 'pg_resetwal'), ['-l', options.walStart, '-D', dataDir], {
        ...asOwner,
        cwd: scratch.path,
      });
    }
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const settings: Record<string, string> = {
        listen_addresses: "'127.0.0.1'",
        port: String(port),
        unix_socket_directories: `'${socketDir}'`,
        wal_level: 'replica',
        max_wal_senders: '10',
        hot_standby: 'on',
        fsync: 'off',
        ...options.settings,
      };
      await appendFile(
        join(dataDir, 'postgresql.conf'),
        `\n# pullback test harness\n${Object.entries(settings)
          .map(([key, value]) => `${key} = ${value}`)
          .join('\n')}\n`,
      );
      const start = () =>
        startServer({
          command: join(binDir, 'postgres'),
          args: ['-D', dataDir],
          spawnOptions: { ...asOwner, cwd: scratch.path },
          logFile: join(scratch.path, 'postgres.log'),
          isReady: async () => {
            await execFileAsync(join(binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]);
            return true;
          },
          stopSignal: 'SIGINT',
        });
      try {
        let server = await start();
        const connectionString = (database = 'postgres') =>
          `postgresql://postgres@127.0.0.1:${port}/${database}`;
        return {
          pid: server.pid,
          host: '127.0.0.1',
          port,
          dataDir,
          socketDir,
          binDir,
          connectionString,
          psql: async (sql, database) =>
            (
              await execFileAsync(
                join(binDir, 'psql'),
                [
                  '-X',
                  '-A',
                  '-t',
                  '-q',
                  '-v',
                  'ON_ERROR_STOP=1',
                  '-d',
                  connectionString(database),
                  '-c',
                  sql,
                ],
                {
                  maxBuffer: 64 * 1024 * 1024,
                },
              )
            ).stdout.trim(),
          currentPid: () => server.pid,
          crash: async () => {
            const children = await execFileAsync('pgrep', ['-P', String(server.pid)]).then(
              ({ stdout }) => stdout.split('\n').filter(Boolean).map(Number),
              () => [] as number[],
            );
            // The postmaster first, then its children, before any can notice: nothing is sent after.
            const killed = server.kill();
            for (const pid of children) {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                // Gone already.
              }
            }
            await killed;
          },
          restart: async () => {
            await server.stop();
            server = await start();
          },
          stop: async () => {
            await server.stop();
            await scratch.remove();
          },
        };
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    await scratch.remove();
    throw error;
  }
}
