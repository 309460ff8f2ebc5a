import { spawn } from 'node:child_process';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sandbox } from '@pullback/cli/demo';
import { postgresOwner } from '@pullback/harness';
import { spoolDirOf, spoolRestoreCommand } from '@pullback/recipe-postgres';

/** The replay agent's CPU time, and how many segments it fetched. */
export interface AgentCpu {
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly segments: number;
}

/** How a replay gets its WAL: a restore command, and what runs beside it. */
export interface ReplaySource {
  readonly restoreCommand?: string;
  /** Told right as the server starts (the clock starts with it). */
  readonly beforeStart?: () => void;
  readonly stop?: () => Promise<AgentCpu>;
}

/**
 * The fallbacks' way to replay from the archive, for a data directory: their
 * restore_command and their agent's prefetching spool (docs/wal.md, "Fallbacks"), the
 * agent in a process of its own (replay-agent.ts) with the bin's V8 and malloc settings.
 * BENCH_REPLAY_TRACE=FILE writes each fetch's start and length there, with the agent's
 * CPU time; BENCH_REPLAY_PROFILE=DIR writes a V8 CPU profile of each agent there.
 */
export async function archiveReplaySource(
  sandbox: Sandbox,
  stream: string,
  dataDir: string,
): Promise<ReplaySource> {
  const dir = spoolDirOf(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const owner = await postgresOwner();
  if (owner) await chown(dir, owner.uid, owner.gid);
  const profileDir = process.env.BENCH_REPLAY_PROFILE;
  const agent = spawn(
    process.execPath,
    [
      // As bin/pullback.js runs `pullback up` (its shebang says why).
      '--max-semi-space-size=2',
      ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]),
      join(import.meta.dirname, 'replay-agent.js'),
      join(sandbox.dir, 'archive'),
      join(sandbox.dir, 'archive.key'),
      stream,
      dir,
      dataDir,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, MALLOC_ARENA_MAX: '2' } },
  );
  let output = '';
  agent.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
  await Promise.race([
    new Promise<void>((resolve) => {
      const check = () => (output.includes('ready\n') ? resolve() : agent.stdout.once('data', check));
      check();
    }),
    exited.then(() => {
      throw new Error(`the replay agent exited: ${output}`);
    }),
  ]);
  return {
    restoreCommand: spoolRestoreCommand(dir),
    // As the import worker does right before it starts a restored fallback.
    beforeStart: () => {
      agent.stdin.write('start\n');
    },
    stop: async () => {
      agent.kill('SIGTERM');
      await exited;
      const report = JSON.parse(output.split('\n').find((line) => line.startsWith('{')) ?? '{}');
      const cpu: AgentCpu = {
        userSeconds: report.user ?? 0,
        systemSeconds: report.system ?? 0,
        segments: new Set((report.fetches ?? []).map((f: { name: string }) => f.name)).size,
      };
      const trace = process.env.BENCH_REPLAY_TRACE;
      if (trace === undefined) return cpu;
      const lines = [
        `# ${report.seconds?.toFixed(1)} s: cpu user ${report.user?.toFixed(2)} s, system ${report.system?.toFixed(2)} s`,
        ...(report.fetches ?? []).map(
          (f: { at: number; ms: number; name: string; asked: boolean }) =>
            `${f.at.toFixed(0)}\t${f.ms.toFixed(1)}\t${f.name}${f.asked ? '\tasked' : ''}`,
        ),
      ];
      await writeFile(trace, `${lines.join('\n')}\n`);
      return cpu;
    },
  };
}
