import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { oneLine } from './one-line.js';
import { asAccount, type OsAccount } from './os-user.js';

/** How much stderr is kept: its end for the failure message, and the first error lines. */
const STDERR_TAIL = 4096;
const ERROR_LINES = 20;

/**
 * Runs a program that reads data on stdin (psql -f -, pg_restore), streaming `input`
 * into it. Resolves with the lines of its stderr that report an `ERROR:` (at most 20);
 * rejects with one line when it exits with a failure.
 */
export async function feedTool(
  label: string,
  argv: readonly string[],
  input: Readable,
  options: { as?: OsAccount; signal?: AbortSignal } = {},
): Promise<string[]> {
  const [command, ...args] = options.as === undefined ? [...argv] : asAccount(options.as, argv);
  const child = spawn(command!, args, {
    stdio: ['pipe', 'ignore', 'pipe'],
    cwd: '/',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  let tail = '';
  let partial = '';
  const errors: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines)
      if (line.includes('ERROR:') && errors.length < ERROR_LINES) errors.push(line.trim());
  });
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  // The program may exit early (a failure) and stop reading: its exit says why, not the broken pipe.
  const feeding = pipeline(input, child.stdin).catch(() => {});
  const [code, signal] = await closed.catch((error: Error) => {
    input.destroy();
    throw new Error(`${label}: ${error.message}`, { cause: error });
  });
  await feeding;
  if (options.signal?.aborted) throw options.signal.reason;
  if (code !== 0) {
    input.destroy();
    const status = code === null ? `killed by ${signal}` : `exit ${code}`;
    throw new Error(`${label} failed (${status}): ${oneLine(tail) || 'no message'}`);
  }
  if (partial.includes('ERROR:') && errors.length < ERROR_LINES) errors.push(partial.trim());
  return errors;
}
