import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The bundle bin/pullback.js runs, as users run it (scripts/bundle.mjs). */
export const MAIN = fileURLToPath(new URL('../dist/bundle/main.js', import.meta.url));
export const REPOSITORY_BIN = fileURLToPath(new URL('../../../bin/pullback.js', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr split into lines, without the empty one after the final newline. */
  readonly errorLines: readonly string[];
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly script?: string;
  /** Default: 30 s. */
  readonly timeoutMs?: number;
}

/** Runs the built CLI in a child process, as a user would, with a clean PULLBACK_* environment. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PULLBACK_')) delete env[name];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [options.script ?? MAIN, ...args],
      { cwd: options.cwd, env: { ...env, ...options.env }, timeout: options.timeoutMs ?? 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : undefined;
        if (code === undefined) {
          reject(error);
          return;
        }
        resolve({ code, stdout, stderr, errorLines: stderr.split('\n').filter((line) => line !== '') });
      },
    );
  });
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
