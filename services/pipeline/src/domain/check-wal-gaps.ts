import {
  type Archive,
  type WalGap as ChainGap,
  compareLsn,
  isWalStream,
  listSnapshots,
  type Snapshot,
  type WalChain,
  walChain,
} from '@pullback/archive';
import type { WalGap } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { isPipelineError } from './errors.js';
import { describeSnapshot } from './snapshot-description.js';

/** What one component's check found. */
export interface CheckedWalGaps {
  readonly component: string;
  /** The stream checked: that of the newest physical snapshot; undefined when the component has none. */
  readonly stream?: string;
  /** The gaps recorded now, the receiver's `slot-lost` ones included. */
  readonly gaps: readonly WalGap[];
}

/**
 * Checks the archived WAL of each of `components` for gaps and records them in the
 * registry (docs/wal.md), for `status` to show what `verify` finds. The stream is
 * the one of the component's newest physical snapshot, and only the WAL from the
 * oldest kept snapshot of that server on counts: retention drops what is before on
 * purpose, and `walChain` begins at the first segment held, so WAL removed before it
 * is no gap. Each gap `walChain` shows is recorded as `missing`, unless the receiver
 * recorded it already as `slot-lost` (that record, with its cause, stays); a
 * `slot-lost` gap goes once retention left it behind or the archive holds its WAL.
 * Cheap enough to run every minute: one listing of the snapshots and of each stream,
 * and the headers of the segments beside each gap.
 */
export async function checkWalGaps(input: {
  readonly archive: Archive;
  readonly registry: Registry;
  readonly components: readonly string[];
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** Told of a component whose check failed; the others are still checked. Default: the failure is thrown. */
  readonly onError?: (error: Error, component: string) => void;
}): Promise<CheckedWalGaps[]> {
  const { archive, registry, signal } = input;
  const now = input.now ?? (() => new Date());
  const snapshots = await listSnapshots(archive, signal ? { signal } : {});
  const results: CheckedWalGaps[] = [];
  for (const component of input.components) {
    signal?.throwIfAborted();
    try {
      const needed = neededWal(component, snapshots);
      const chain =
        needed === undefined ? undefined : await walChain(archive, needed.stream, signal ? { signal } : {});
      const detectedAt = now().toISOString();
      const gaps = await registry.updateWalGaps(component, (current) =>
        mergeGaps(current, chain, needed?.from, detectedAt),
      );
      results.push({ component, ...(needed ? { stream: needed.stream } : {}), gaps: gaps ?? [] });
    } catch (error) {
      if (input.onError === undefined || signal?.aborted) throw error;
      input.onError(error as Error, component);
    }
  }
  return results;
}

/**
 * The stream of the component's newest physical snapshot and where the oldest kept
 * snapshot of that server starts; undefined without such a snapshot (then no WAL is
 * needed: nothing could be restored with it).
 */
function neededWal(
  component: string,
  snapshots: readonly Snapshot[],
): { stream: string; from: string } | undefined {
  const servers: { systemIdentifier: string; startLsn: string }[] = [];
  for (const snapshot of snapshots) {
    if (snapshot.tags.component !== component) continue;
    try {
      const { kind, server } = describeSnapshot(snapshot);
      if (kind === 'physical' && server !== undefined) servers.push(server);
    } catch (error) {
      // A snapshot whose tags cannot be read needs what it needs: verify and status say so elsewhere.
      if (!isPipelineError(error)) throw error;
    }
  }
  const newest = servers.at(-1);
  if (newest === undefined) return undefined;
  const stream = `${component}.${newest.systemIdentifier}`;
  if (!isWalStream(stream)) return undefined;
  const from = servers
    .filter((server) => server.systemIdentifier === newest.systemIdentifier)
    .map((server) => server.startLsn)
    .reduce((oldest, lsn) => (compareLsn(lsn, oldest) < 0 ? lsn : oldest));
  return { stream, from };
}

/** The gaps to record: the receiver's `slot-lost` ones that still matter, and the chain's other gaps as `missing`. */
function mergeGaps(
  current: readonly WalGap[],
  chain: WalChain | undefined,
  neededFrom: string | undefined,
  detectedAt: string,
): WalGap[] {
  const chainGaps = (chain?.gaps ?? []).filter(
    (gap) => neededFrom !== undefined && compareLsn(gap.endLsn, neededFrom) > 0,
  );
  const slotLost = current.filter((gap) => gap.cause === 'slot-lost' && stillMissing(gap, chain, neededFrom));
  const missing = chainGaps
    .filter((gap) => !slotLost.some((lost) => overlaps(lost, gap)))
    .map((gap): WalGap => {
      const known = current.find(
        (old) =>
          old.cause === 'missing' &&
          old.timeline === gap.timeline &&
          old.fromLsn === gap.startLsn &&
          old.toLsn === gap.endLsn,
      );
      return {
        timeline: gap.timeline,
        fromLsn: gap.startLsn,
        toLsn: gap.endLsn,
        ...(gap.startTime === undefined ? {} : { fromTime: gap.startTime }),
        ...(gap.endTime === undefined ? {} : { toTime: gap.endTime }),
        cause: 'missing',
        detectedAt: known?.detectedAt ?? detectedAt,
      };
    });
  return [...slotLost, ...missing].sort(
    (a, b) => a.timeline - b.timeline || compareLsn(a.fromLsn, b.fromLsn) || a.cause.localeCompare(b.cause),
  );
}

/**
 * Whether a gap the receiver recorded still matters: not before the WAL kept (left
 * behind by retention), and not wholly inside a run of segments the archive holds.
 * One after the archive's end stays: the WAL after it may not be stored yet.
 */
function stillMissing(gap: WalGap, chain: WalChain | undefined, neededFrom: string | undefined): boolean {
  if (neededFrom !== undefined && compareLsn(gap.toLsn, neededFrom) <= 0) return false;
  if (chain?.start !== undefined && compareLsn(gap.toLsn, chain.start.lsn) <= 0) return false;
  const runs = chain?.timelines.find((timeline) => timeline.timeline === gap.timeline)?.runs ?? [];
  return !runs.some(
    (run) => compareLsn(run.startLsn, gap.fromLsn) <= 0 && compareLsn(gap.toLsn, run.endLsn) <= 0,
  );
}

function overlaps(lost: WalGap, gap: ChainGap): boolean {
  return (
    lost.timeline === gap.timeline &&
    compareLsn(lost.fromLsn, gap.endLsn) < 0 &&
    compareLsn(gap.startLsn, lost.toLsn) < 0
  );
}
