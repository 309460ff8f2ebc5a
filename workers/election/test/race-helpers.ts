import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Verdict } from '@pullback/election';
import type { RedisServer } from '@pullback/harness';
import { type ElectionOptions, type FailoverOutcome, startElection } from '../src/index.js';
import { type ElectionWorld, electionWorld, type WorldOptions, waitLong } from './election-world.js';

/** The built CLI, run as its own process where a test needs one (SIGSTOP, a user's command). */
export const CLI_MAIN = fileURLToPath(new URL('../../../services/cli/dist/bundle/main.js', import.meta.url));

/** An election worker in this process whose verdicts and failovers are kept for the test. */
export async function inProcessElection(
  w: ElectionWorld,
  holder: string,
  options: Pick<ElectionOptions, 'activationGraceMs'> = {},
) {
  const verdicts: Verdict[] = [];
  const failovers: FailoverOutcome[] = [];
  const lines: string[] = [];
  const running = await startElection(w.config, {
    ...options,
    pipeline: w.pipeline,
    holder,
    onObservation: (_component, _observation, verdict) => verdicts.push(verdict),
    onFailover: (_component, outcome) => failovers.push(outcome),
    log: (line) => lines.push(line),
  });
  return { running, verdicts, failovers, lines };
}

/** The world ready for a failover: a write seen by both fallbacks, both reported healthy there, shop-a holding its lease. */
export async function readyWorld(
  redis: RedisServer,
  label: string,
  options: WorldOptions = {},
): Promise<ElectionWorld> {
  const w = await electionWorld(redis, label, options);
  await w.writeAndSettle('before the failover');
  await w.reportHealthy('shop-b');
  await w.reportHealthy('shop-c');
  await waitLong("shop-a's agent holds the active lease", async () =>
    (await w.pipeline.registry.activeLease('shop'))?.instance === 'shop-a' ? true : undefined,
  );
  return w;
}

/** The active's host dies: its agent stops (no heartbeat, no renewals) and its postmaster is killed. */
export async function killActiveHost(w: ElectionWorld): Promise<void> {
  await Promise.all([w.stopAgent('shop-a'), w.active.crash()]);
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code once it has exited. */
  readonly exited: Promise<number | null>;
}

/** `pullback ARGS` as its own process, its output kept. */
export function spawnCli(args: readonly string[]): CliProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PULLBACK_')) delete env[name];
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const add = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
