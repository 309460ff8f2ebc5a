import type { Snapshot, SnapshotProof } from '@pullback/archive';
import { retentionKindOf } from '@pullback/pipeline/snapshot-description';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { clock } from '../point-in-time/reach.js';
import type { PointRange } from '../point-in-time/restorable-range.js';
import { formatBytes } from '../progress-display.js';
import { readSnapshotTimeline } from '../snapshot-timeline.js';

export interface SnapshotsOptions extends ArchiveFlags {
  readonly component?: string;
  readonly json?: boolean;
}

/** `pullback snapshots`: lists the archive's snapshots, oldest first. */
export async function listSnapshots(options: SnapshotsOptions, context: CommandContext): Promise<void> {
  const { archive } = await openArchiveFromFlags(options, context);
  const { snapshots, proofs, ranges } = await readSnapshotTimeline(archive, {
    ...(options.component === undefined ? {} : { component: options.component }),
    signal: context.signal,
  });
  if (options.json) {
    const described = snapshots.map((snapshot) => ({
      ...describe(snapshot),
      proof: proofs.get(snapshot.id) ?? null,
      pointInTime: ranges.get(snapshot.tags.component ?? '')?.bySnapshot.get(snapshot.id) ?? null,
    }));
    context.stdout.write(`${JSON.stringify(described, null, 2)}\n`);
    return;
  }
  if (snapshots.length === 0) {
    context.stdout.write('no snapshots\n');
    return;
  }
  const rows = snapshots.map((snapshot) => [
    snapshot.id.slice(0, 12),
    snapshot.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    snapshot.tags.component ?? '',
    kindOf(snapshot),
    String(snapshot.stats.files),
    formatBytes(snapshot.stats.logicalBytes),
    formatBytes(snapshot.stats.newBytesStored),
    proofOf(proofs.get(snapshot.id)),
    sourceOf(snapshot),
  ]);
  printTable(context, ['ID', 'TIME', 'COMPONENT', 'KIND', 'FILES', 'SIZE', 'NEW', 'PROVEN', 'SOURCE'], rows);
  for (const range of ranges.values()) {
    context.stdout.write(
      `${range.component}: restorable to any moment from ${range.ranges.map(describeRange).join(', and from ')}\n`,
    );
    for (const gap of range.gaps) {
      context.stdout.write(
        `${range.component}: WAL gap, nothing can be restored from ${describeRange(gap)}\n`,
      );
    }
  }
}

/** Whether a restore drill proved the snapshot: `yes`, `FAILED`, or `-` when none ran. */
function proofOf(proof: SnapshotProof | undefined): string {
  if (proof === undefined) return '-';
  return proof.ok ? `yes ${clock(proof.at)}` : 'FAILED';
}

function describeRange(range: PointRange): string {
  return `${clock(range.from.time)} (${range.from.lsn}) to ${clock(range.to.time)} (${range.to.lsn})`;
}

/**
 * Where a snapshot came from: its export (a pulled artifact was staged in a temporary
 * directory, gone since), else the tree's path.
 */
function sourceOf(snapshot: Snapshot): string {
  const { exportId } = snapshot.tags;
  return exportId === undefined ? (snapshot.paths[0] ?? '') : `export ${exportId}`;
}

/** `physical` or `logical` (docs/exports.md), as retention counts it; an unknown tag as it is. */
function kindOf(snapshot: Snapshot): string {
  return retentionKindOf(snapshot).replace(/^unknown:/, '');
}

/** The JSON form: id, time, component, kind, sizes (logical and newly stored), and the rest of the manifest. */
function describe(snapshot: Snapshot) {
  return {
    id: snapshot.id,
    time: snapshot.time,
    component: snapshot.tags.component ?? null,
    kind: kindOf(snapshot),
    sizes: { logical: snapshot.stats.logicalBytes, newlyStored: snapshot.stats.newBytesStored },
    hostname: snapshot.hostname,
    paths: snapshot.paths,
    tags: snapshot.tags,
    parent: snapshot.parent,
    stats: snapshot.stats,
  };
}

function printTable(context: CommandContext, header: string[], rows: string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  for (const row of [header, ...rows]) {
    context.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
}
