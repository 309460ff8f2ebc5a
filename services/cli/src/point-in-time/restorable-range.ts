import type { Archive } from '@pullback/archive';
import type { WalPoint } from './archived-wal.js';
import { componentReaches, physicalBases } from './component-reach.js';
import { type Reach, reachableRanges } from './reach.js';

export interface PointRange {
  readonly from: { readonly time: string; readonly lsn: string };
  readonly to: { readonly time: string; readonly lsn: string };
}

/** What `snapshots` says of a component's point-in-time restores. */
export interface RestorableRange {
  readonly component: string;
  /** The times (and LSNs) a restore can reach, oldest first: more than one when gaps cut the WAL. */
  readonly ranges: readonly PointRange[];
  /** Stretches the archive's WAL lacks: nothing in them can be restored to. */
  readonly gaps: readonly PointRange[];
  /** Per snapshot id: the range a restore from it reaches. */
  readonly bySnapshot: ReadonlyMap<string, PointRange>;
}

/** The restorable range of each component with physical snapshots and archived WAL. */
export async function restorableRange(
  archive: Archive,
  component: string,
  signal?: AbortSignal,
): Promise<RestorableRange | undefined> {
  const bases = await physicalBases(archive, component, signal);
  if (bases.length === 0) return undefined;
  const { reaches } = await componentReaches(archive, component, bases, signal);
  if (reaches.length === 0) return undefined;
  const gaps: PointRange[] = [];
  for (const wal of new Set(reaches.map((reach) => reach.wal))) {
    for (const gap of wal.gaps()) {
      gaps.push({ from: point(await wal.endOf(gap.after)), to: point(await wal.startOf(gap.before)) });
    }
  }
  return {
    component,
    ranges: reachableRanges(reaches).map((range) => ({ from: point(range.from), to: point(range.to) })),
    gaps,
    bySnapshot: new Map(
      reaches.map((reach: Reach) => [reach.base.id, { from: point(reach.from), to: point(reach.to) }]),
    ),
  };
}

function point(at: Pick<WalPoint, 'time' | 'lsn'>): { time: string; lsn: string } {
  return { time: at.time, lsn: at.lsn };
}
