import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { waitFor } from '@pullback/harness';
import { MAIN } from './run-cli.js';

/** A long-running `pullback` command (up, dashboard, status --watch) in a child process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything it wrote so far, stdout then stderr as they came. */
  output(): string;
  /** Waits until its output matches `pattern`, and returns the match; fails early if it exits. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  return startCliThrough(process.execPath, [MAIN, ...args], env);
}

/** `startCli` through another program (`script`, to give it a terminal): `command args` runs the CLI. */
export function startCliThrough(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): CliProcess {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(clean)) if (name.startsWith('PULLBACK_')) delete clean[name];
  const child = spawn(command, args, {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
  }
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    output: () => output,
    waitForOutput: (pattern, timeoutMs = 60_000) =>
      waitFor(
        `output matching ${pattern}`,
        async () => {
          const match = output.match(pattern);
          if (match !== null) return match;
          if (child.exitCode !== null)
            throw new Error(`exited ${child.exitCode} before ${pattern}: ${output}`);
          return undefined;
        },
        timeoutMs,
      ),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
