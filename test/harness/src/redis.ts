import { rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { redisText } from './redis-info.js';
import { scratchDir } from './scratch-dir.js';
import { type RunningServer, startServer } from './server-process.js';

export interface RedisServer extends RunningServer {
  /** `redis://127.0.0.1:PORT` (without the password, when one is required) */
  readonly url: string;
  /**
   * Kills the server by PID (SIGKILL, a crash) and starts it again on the same port,
   * empty: what a Redis without persistence does after a crash. `pid` is the new one after.
   */
  restartEmpty(): Promise<void>;
  /**
   * Stops the server (SIGTERM) until `resume`: clients are refused meanwhile. With
   * `keepData`, it saves its data first (SAVE) and comes back with it, as a Redis with
   * persistence stopped cleanly does; otherwise it comes back empty.
   */
  halt(options?: { keepData?: boolean }): Promise<void>;
  /** Starts a halted server again on the same port. `pid` is the new one after. */
  resume(): Promise<void>;
}

export interface RedisOptions {
  /** A password clients must give (`requirepass`). Default: none. */
  readonly password?: string;
}

/** Starts a throwaway redis-server on 127.0.0.1 (see `redisServerArgs`). */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const scratch = await scratchDir('redis');
  const command = await findExecutable('redis-server', ['/usr/bin', '/usr/local/bin', '/usr/sbin']);
  const launch = (port: number) =>
    startServer({
      command,
      args: redisServerArgs(port, scratch.path, options.password),
      logFile: join(scratch.path, 'redis.log'),
      isReady: () => ping(port, options.password),
    });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      let server = await launch(port);
      return {
        get pid() {
          return server.pid;
        },
        host: '127.0.0.1',
        port,
        url: `redis://127.0.0.1:${port}`,
        restartEmpty: async () => {
          await server.kill();
          // The port was just ours; another process taking it meanwhile is not expected on loopback.
          server = await launch(port);
        },
        halt: async ({ keepData = false } = {}) => {
          if (keepData) await redisText(port, 'SAVE', options.password);
          else await rm(join(scratch.path, 'dump.rdb'), { force: true });
          // Without save points (redisServerArgs), SIGTERM exits without saving again.
          await server.stop();
        },
        resume: async () => {
          server = await launch(port);
        },
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

/**
 * redis-server's arguments for a throwaway server on 127.0.0.1:`port`, kept in `dir`:
 * no persistence, and `noeviction`, the policy BullMQ requires (an evicted job key
 * would silently lose work). With `password`, clients and replicas must give it.
 */
export function redisServerArgs(port: number, dir: string, password: string | undefined): string[] {
  return [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
  ];
}

/** True once the Redis server or sentinel on `port` answers PING (after AUTH, with `password`). */
export function ping(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const auth = password === undefined ? '' : `AUTH ${password}\r\n`;
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${auth}PING\r\n`));
    let answer = '';
    socket.on('data', (data) => {
      answer += data.toString();
      if (!answer.includes('\r\n', auth === '' ? 0 : answer.indexOf('\r\n') + 2)) return;
      socket.destroy();
      resolve(answer.endsWith('+PONG\r\n'));
    });
    socket.once('error', () => resolve(false));
  });
}
