import { chown, mkdir } from 'node:fs/promises';
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
  const prefetch = startWalPrefetch({
    dir,
    // Knobs for trying other depths; the agent's defaults otherwise.
    ...(process.env.BENCH_PREFETCH_AHEAD ? { ahead: Number(process.env.BENCH_PREFETCH_AHEAD) } : {}),
    ...(process.env.BENCH_PREFETCH_PARALLEL ? { parallel: Number(process.env.BENCH_PREFETCH_PARALLEL) } : {}),
    fetch: async (name, options) => {
      const file = await fetchWalFile(sandbox.archive, stream, name, options);
      return (
        file && { content: file.content, segmentSize: file.header.segmentSize, partial: file.header.partial }
      );
    },
    onError: (error) => process.stderr.write(`bench: archived WAL: ${error.message}\n`),
  });
  return { restoreCommand: spoolRestoreCommand(dir), stop: () => prefetch.stop() };
}
