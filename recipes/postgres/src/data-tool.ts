import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { oneLine } from './one-line.js';

/** A program whose stdout is data (pg_basebackup, pg_dump), started for streaming. */
export interface DataTool {
  /** The data; read it with stream.pipeline, never buffer it whole. */
  readonly stdout: Readable;
  /**
   * Resolves once the program exited successfully; rejects with one line (`label`,
   * the exit status and the end of its stderr) otherwise.
   */
  readonly exited: () => Promise<void>;
  /**
   * The better explanation of a failed transfer: the program's own failure when it
   * ended its output itself (it died, so the stream broke), else `error` (the consumer
   * failed first, and the program only saw a broken pipe).
   */
  explain(error: unknown): Promise<unknown>;
  /** Ends the program if it still runs (after the consumer failed). */
  kill(): void;
}

/** How much of a failing tool's stderr is kept for its error message. */
const STDERR_TAIL = 4096;

/**
 * Spawns `command` with `args` (no shell). stderr is kept as a bounded tail, so a
 * chatty tool cannot grow memory; an abort signal ends the program.
 */
export function spawnDataTool(
  label: string,
  command: string,
  args: readonly string[],
  options: { signal?: AbortSignal; env?: Readonly<Record<string, string>> } = {},
): DataTool {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: '/',
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
    ...(options.signal === undefined ? {} : { signal: options.signal, killSignal: 'SIGTERM' }),
  });
  let endedItself = false;
  child.stdout.once('end', () => {
    endedItself = true;
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL);
  });
  const closed = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).then(
    ([code, signal]) => ({ code, signal, error: undefined as Error | undefined }),
    (error: Error) => ({ code: null, signal: null, error }),
  );
  const exited = async () => {
    const { code, signal, error } = await closed;
    if (options.signal?.aborted) throw options.signal.reason;
    if (error !== undefined) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(`${label}: ${missing ? `${command} not found` : error.message}`, { cause: error });
    }
    if (code === 0) return;
    const status = code === null ? `killed by ${signal}` : `exit ${code}`;
    throw new Error(`${label} failed (${status}): ${oneLine(stderr) || 'no message'}`);
  };
  // Rejections are read through exited(); keep an unobserved one from crashing the process.
  closed.catch(() => {});
  return {
    stdout: child.stdout,
    exited,
    explain: async (error) => {
      if (!endedItself) return error;
      return exited().then(
        () => error,
        (failure: unknown) => failure,
      );
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
