import { chown, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { postgresOwner } from './postgres.js';
import { scratchDir } from './scratch-dir.js';
import { type RunningServer, startServer } from './server-process.js';

export interface PgBouncerServer extends RunningServer {
  /** Its ini, in a scratch directory: tests rewrite it. */
  readonly iniPath: string;
  readonly pidFile: string;
  /** The admin console's user (`admin_users`); logs in with no password (`auth_type = trust`). */
  readonly adminUser: string;
}

export interface PgBouncerOptions {
  /** The lines of the ini's `[databases]` section, comments included, as written. */
  readonly databases: string;
}

/**
 * Starts Debian's pgbouncer (apt-get install pgbouncer) in the foreground on a free
 * 127.0.0.1 port, as the `postgres` user when we are root (it refuses root), with
 * `trust` authentication for `postgres` and the admin user `pgbouncer`, session
 * pooling, no Unix socket. `stop` ends it by PID.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncerServer> {
  const command = await findExecutable('pgbouncer', ['/usr/sbin', '/usr/bin']);
  const owner = await postgresOwner();
  const scratch = await scratchDir('pgbouncer');
  const iniPath = join(scratch.path, 'pgbouncer.ini');
  const pidFile = join(scratch.path, 'pgbouncer.pid');
  const authFile = join(scratch.path, 'userlist.txt');
  // trust still requires the user in auth_file.
  await writeFile(authFile, '"postgres" ""\n"pgbouncer" ""\n');
  if (owner) await chown(scratch.path, owner.uid, owner.gid);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(
      iniPath,
      `[databases]\n${options.databases}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\n` +
        `unix_socket_dir =\nauth_type = trust\nauth_file = ${authFile}\nadmin_users = pgbouncer\n` +
        `pool_mode = session\npidfile = ${pidFile}\nlogfile = ${join(scratch.path, 'pgbouncer.log')}\n`,
    );
    if (owner) await chown(iniPath, owner.uid, owner.gid);
    try {
      const server = await startServer({
        command,
        args: [iniPath],
        spawnOptions: owner ? { uid: owner.uid, gid: owner.gid, cwd: scratch.path } : { cwd: scratch.path },
        logFile: join(scratch.path, 'stdout.log'),
        isReady: () => accepts(port),
        stopSignal: 'SIGINT',
      });
      return {
        pid: server.pid,
        host: '127.0.0.1',
        port,
        iniPath,
        pidFile,
        adminUser: 'pgbouncer',
        stop: async () => {
          await server.stop();
          await scratch.remove();
        },
      };
    } catch (error) {
      if (attempt >= 3) {
        await scratch.remove();
        throw error;
      }
    }
  }
}

/** True once something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
