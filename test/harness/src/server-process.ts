import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server this harness started; `stop` ends it by PID and waits until it is gone. */
export interface RunningServer {
  readonly pid: number;
  readonly host: '127.0.0.1';
  readonly port: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly spawnOptions?: SpawnOptions;
  /** Where the server's stdout and stderr go, so a failed start can be explained. */
  readonly logFile: string;
  /** Resolves once the server answers; rejects or returns false while it does not yet. */
  readonly isReady: () => Promise<boolean>;
  /** The signal that shuts the server down cleanly (PostgreSQL: SIGINT, a fast shutdown). */
  readonly stopSignal?: NodeJS.Signals;
  readonly startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();

// A test that crashes or is interrupted must not leave servers behind: kill what is
// still running when this process exits.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Spawns a server in the foreground (so its PID is ours to stop), waits until it is
 * ready, and returns a handle. A server that exits or times out before it is ready
 * rejects with the tail of its log.
 */
export async function startServer(
  options: StartOptions,
): Promise<{ pid: number; stop(): Promise<void>; kill(): Promise<void> }> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  await once(log, 'open');
  const child = spawn(options.command, options.args, {
    ...options.spawnOptions,
    stdio: ['ignore', log, log],
  });
  running.add(child);
  const exited = once(child, 'exit').then(() => running.delete(child));

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.command} exited before it was ready; see ${options.logFile}`);
    }
    if (await options.isReady().catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${options.command} was not ready within ${options.startTimeoutMs ?? 30_000} ms; see ${options.logFile}`,
      );
    }
    await sleep(50);
  }

  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.command} has no pid`);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(options.stopSignal ?? 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };
  /** SIGKILL, as a crash: the server has no chance to save or clean up. */
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    log.end();
  };
  return { pid, stop, kill };
}
