import { chown, cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchWalFile } from '@pullback/archive';
import type { Sandbox } from '@pullback/cli/demo';
import { postgresOwner } from '@pullback/harness';
import { startWalPrefetch } from '@pullback/pipeline';
import { spoolDirOf, spoolRestoreCommand } from '@pullback/recipe-postgres';

/**
 * The fallbacks' way to replay from the archive, for a data directory: their
 * restore_command and their agent's prefetching spool (docs/wal.md, "Fallbacks").
 */
export async function archiveReplaySource(
  sandbox: Sandbox,
  stream: string,
  dataDir: string,
): Promise<{ restoreCommand?: string; stop?: () => Promise<void> }> {
  const dir = spoolDirOf(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const owner = await postgresOwner();
  if (owner) await chown(dir, owner.uid, owner.gid);
  const fetches: { name: string; ms: number; at: number }[] = [];
  const begun = performance.now();
  const cpuAtStart = process.cpuUsage();
  const loopAtStart = performance.eventLoopUtilization();
  const prefetch = startWalPrefetch({
    dir,
    // Knobs for trying other depths; the agent's defaults otherwise.
    ...(process.env.BENCH_PREFETCH_AHEAD ? { ahead: Number(process.env.BENCH_PREFETCH_AHEAD) } : {}),
    ...(process.env.BENCH_PREFETCH_PARALLEL ? { parallel: Number(process.env.BENCH_PREFETCH_PARALLEL) } : {}),
    fetch: async (name, options) => {
      const started = performance.now();
      const file = await fetchWalFile(sandbox.archive, stream, name, options);
      fetches.push({ name, ms: performance.now() - started, at: performance.now() - begun });
      return (
        file && { content: file.content, segmentSize: file.header.segmentSize, partial: file.header.partial }
      );
    },
    onError: (error) => process.stderr.write(`bench: archived WAL: ${error.message}\n`),
  });
  return {
    restoreCommand: spoolRestoreCommand(dir),
    stop: async () => {
      await prefetch.stop();
      if (process.env.BENCH_REPLAY_TRACE) {
        // Where the time went: each fetch's start (ms after the spool started) and length.
        const cpu = process.cpuUsage(cpuAtStart);
        const loop = performance.eventLoopUtilization(loopAtStart);
        const lines = [
          `# ${((performance.now() - begun) / 1000).toFixed(1)} s: cpu user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s; event loop busy ${(loop.utilization * 100).toFixed(0)}%`,
          ...fetches.map((f) => `${f.at.toFixed(0)}\t${f.ms.toFixed(1)}\t${f.name}`),
        ];
        await writeFile(process.env.BENCH_REPLAY_TRACE, `${lines.join('\n')}\n`);
        await cp(join(dataDir, 'log'), `${process.env.BENCH_REPLAY_TRACE}.log`, { recursive: true }).catch(
          () => {},
        );
      }
    },
  };
}
