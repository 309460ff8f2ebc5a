import { $, type ProcessOutput } from 'zx';
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

/**
 * Runs a short control command (psql -c, pg_ctl, initdb, pg_verifybackup) and returns
 * its stdout. zx buffers output, so this is never used for data. A failure rejects
 * with one line: `label` and the end of the command's stderr.
 */
export async function runTool(
  label: string,
  argv: readonly string[],
  options: RunToolOptions = {},
): Promise<string> {
  const command = options.as === undefined ? [...argv] : asAccount(options.as, argv);
  try {
    const output = await $({
      quiet: true,
      // A server account may not be able to enter our working directory.
      cwd: '/',
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
    })`${command}`;
    return output.stdout;
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const output = error as Partial<ProcessOutput>;
    const detail = oneLine(output.stderr || output.stdout || (error as Error).message || '');
    throw new Error(
      `${label} failed${output.exitCode == null ? '' : ` (exit ${output.exitCode})`}: ${detail}`,
      {
        cause: error,
      },
    );
  }
}
