import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one command cost: wall time, CPU (user + system, children included) and peak RSS. */
export interface Cost {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssMB: number;
}

/**
 * Runs a command under GNU time, so CPU and peak RSS include every child process it
 * waits for (pgBackRest's process-max workers, Pullback's worker threads). Its output
 * is kept for errors; `stdout` is returned for commands whose output we parse.
 */
export async function timed(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Cost & { stdout: string }> {
  const report = join(tmpdir(), `pullback-bench-time-${process.pid}-${Date.now()}`);
  const child = spawn('/usr/bin/time', ['-o', report, '-f', '%e %U %S %M', command, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => {
    stdout += data.toString();
  });
  child.stderr.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString()).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.trim()}`);
  const fields = (await readFile(report, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
  await rm(report, { force: true });
  const [seconds = 0, user = 0, system = 0, maxRssKB = 0] = fields;
  return { seconds, cpuSeconds: user + system, peakRssMB: maxRssKB / 1024, stdout };
}
