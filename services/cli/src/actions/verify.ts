import { type RepairArchiveResult, repairArchive, verifyArchive } from '@pullback/archive';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { SilentExit } from '../errors.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { formatBytes, progressDisplay } from '../progress-display.js';

export interface VerifyOptions extends ArchiveFlags {
  readonly readData?: boolean;
  readonly json?: boolean;
  readonly repair?: boolean;
}

function describeRepair(result: RepairArchiveResult): string {
  const parts = [`repair: index rebuilt from ${result.packs} packs (${result.blobs} blobs)`];
  if (result.packsMissing.length > 0) parts.push(`${result.packsMissing.length} missing packs dropped`);
  if (result.blobsDropped > 0) parts.push(`${result.blobsDropped} damaged blobs dropped`);
  if (result.packsUnreadable.length > 0)
    parts.push(`${result.packsUnreadable.length} packs with unreadable headers left out`);
  const moved = [...result.snapshotsQuarantined, ...result.indexObjectsQuarantined].map(
    (object) => `\nrepair: moved damaged ${object.name} to ${object.movedTo}`,
  );
  return parts.join(', ') + moved.join('');
}

/**
 * `pullback verify`: checks the archive's structure, and with readData every chunk's
 * bytes. Each problem is one line naming the snapshot and file it affects; any problem
 * makes the exit status 1.
 */
export async function verify(options: VerifyOptions, context: CommandContext): Promise<void> {
  const { archive, access } = await openArchiveFromFlags(options, context);
  const progress = progressDisplay(context, 'verify');
  let result: Awaited<ReturnType<typeof verifyArchive>>;
  try {
    result = await verifyArchive(archive, {
      readData: options.readData ?? false,
      onProgress: progress.update,
      signal: context.signal,
    });
  } finally {
    progress.stop();
  }
  if (options.json) {
    context.stdout.write(`${JSON.stringify({ archive: access.url, ...result }, null, 2)}\n`);
  } else {
    for (const problem of result.problems) {
      const where = [
        problem.snapshot && `snapshot ${problem.snapshot.slice(0, 12)}`,
        problem.file && `file ${problem.file}`,
        problem.stream && `wal stream ${problem.stream}`,
      ]
        .filter(Boolean)
        .join(', ');
      context.stdout.write(`${where ? `${where}: ` : ''}${problem.message}\n`);
    }
    const read = options.readData
      ? `, ${result.blobsRead} chunks (${formatBytes(result.bytesRead)}) read and checked`
      : '';
    const wal = result.walObjects > 0 ? `, ${result.walObjects} wal objects` : '';
    context.stdout.write(
      `${result.ok ? 'ok' : `${result.problems.length} problems`}: ${result.snapshots} snapshots, ${result.packs} packs${read}${wal}\n`,
    );
  }
  // Repair rebuilds the index and drops damaged blobs: nothing it can do for WAL.
  if (!result.ok && options.repair && result.problems.some((problem) => problem.stream === undefined)) {
    const repaired = await repairArchive(archive, {
      dropBlobs: new Set(result.damagedBlobs.map((hex) => Buffer.from(hex, 'hex').toString('latin1'))),
      signal: context.signal,
    });
    // Beside --json's document, never inside it.
    const out = options.json ? context.stderr : context.stdout;
    out.write(`${describeRepair(repaired)}\n`);
    // What is still wrong after the repair decides the exit status.
    result = await verifyArchive(archive, { signal: context.signal });
    out.write(
      result.ok
        ? 'after repair: ok\n'
        : `after repair: ${result.problems.length} problems remain: back up the same files again to store what is lost, or forget the snapshots that need it\n`,
    );
  }
  if (!result.ok) {
    context.stderr.write(
      `pullback: the archive ${access.url} is damaged: ${result.problems.length} problems\n`,
    );
    throw new SilentExit(1);
  }
}
