import { type ExecFileException, execFile } from 'node:child_process';
import { oneLine } from './one-line.js';
import { asAccount, type OsAccount } from './os-user.js';

export interface RunToolOptions {
  readonly signal?: AbortSignal;
  /** Sent on stdin. */
  readonly input?: string;
  /** Run as this account (through runuser when we are root). */
  readonly as?: OsAccount;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: ExecFileException;
}

/** A control command's output is a few lines; more than this is a mistake, not data. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Runs a short control command (psql -c, pg_ctl, initdb, pg_verifybackup) and returns
 * its stdout. The output is buffered, so this is never used for data. A failure
 * rejects with one line: `label` and the end of the command's stderr.
 *
 * The program is executed directly, with no shell in between: nothing in `argv` is
 * ever read as shell syntax, and no shell start-up (profiles, `BASH_ENV`, user
 * lookups) sits on the path of every server start and check.
 */
export async function runTool(
  label: string,
  argv: readonly string[],
  options: RunToolOptions = {},
): Promise<string> {
  const [program, ...args] = options.as === undefined ? [...argv] : asAccount(options.as, argv);
  if (program === undefined) throw new Error(`${label}: no command to run`);
  const result = await new Promise<ToolResult>((resolve) => {
    const child = execFile(
      program,
      args,
      {
        // A server account may not be able to enter our working directory.
        cwd: '/',
        encoding: 'utf8',
        maxBuffer: MAX_OUTPUT_BYTES,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
      },
      (error, stdout, stderr) => resolve({ stdout, stderr, ...(error ? { error } : {}) }),
    );
    child.stdin?.on('error', () => {}); // a command that exits without reading its input
    child.stdin?.end(options.input ?? '');
  });
  if (result.error === undefined) return result.stdout;
  if (options.signal?.aborted) throw options.signal.reason;
  const exitCode = typeof result.error.code === 'number' ? result.error.code : undefined;
  const detail = oneLine(result.stderr || result.stdout || result.error.message || '');
  throw new Error(`${label} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${detail}`, {
    cause: result.error,
  });
}
