import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, archiveWalFile } from '@pullback/archive';
import { startPeriodicTask } from '@pullback/pipeline';

const WAL_FILE = /^([0-9A-F]{24}|[0-9A-F]{8}\.history)$/;

/**
 * Until the WAL receiver takes its place (docs/wal.md), the tests' way to put the
 * active's WAL into the archive: the active's archive_command copies each completed
 * segment into `dir`, and this stores it under `stream` and removes it, every
 * `intervalMs`. Stopped (its round ended) by `stop`.
 */
export function startWalShipper(
  dir: string,
  archive: Archive,
  stream: string,
  options: { segmentSize?: number; intervalMs?: number } = {},
): { stop(): Promise<void>; readonly shipped: string[] } {
  const shipped: string[] = [];
  const task = startPeriodicTask(
    options.intervalMs ?? 300,
    async (signal) => {
      for (const name of (await readdir(dir)).filter((entry) => WAL_FILE.test(entry)).sort()) {
        if (signal.aborted) return;
        const at = new Date().toISOString();
        await archiveWalFile(
          archive,
          stream,
          name,
          await readFile(join(dir, name)),
          {
            segmentSize: options.segmentSize ?? 16 * 1024 * 1024,
            partial: false,
            firstReceivedAt: at,
            lastReceivedAt: at,
          },
          { signal },
        );
        await rm(join(dir, name));
        shipped.push(name);
      }
    },
    (error) => process.stderr.write(`wal shipper: ${error.message}\n`),
  );
  return { stop: () => task.stop(), shipped };
}
