import type { Sandbox } from '@pullback/cli/demo';

/**
 * The fallbacks' way to replay from the archive, for a data directory: their
 * restore_command and their agent's prefetching spool (docs/wal.md, "Fallbacks").
 */
export async function archiveReplaySource(
  sandbox: Sandbox,
  stream: string,
  dataDir: string,
): Promise<{ restoreCommand?: string; stop?: () => Promise<void> }> {
  void sandbox;
  void stream;
  void dataDir;
  throw new Error('TODO: the fallbacks prefetcher lands with the fallback work');
}
