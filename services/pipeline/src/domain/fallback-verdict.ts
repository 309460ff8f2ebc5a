import {
  type Archive,
  fetchWalFile,
  historyFileName,
  listWal,
  parseLsn,
  readWalHeader,
  segmentOfLsn,
  walStreamName,
} from '@pullback/archive';
import type { InstancePosition } from '../recipe.js';
import type { FallbackState } from '../registry/records.js';
import type { SnapshotDescription } from './snapshot-description.js';

/** Whether an import leaves a fallback running (it follows) or restores the snapshot onto it (reseed), and why. */
export type FallbackVerdict = { readonly follow: true } | { readonly follow: false; readonly why: string };

export interface FallbackVerdictInput {
  readonly component: string;
  /** Where the fallback is now (`Recipe.position`); undefined when the recipe cannot tell. */
  readonly position: InstancePosition | undefined;
  /** What the registry last recorded of it. */
  readonly state: FallbackState | undefined;
  /** The snapshot being imported. */
  readonly snapshot: SnapshotDescription;
  readonly archive: Archive;
  readonly signal?: AbortSignal;
}

/** Reasons the position reporter sets (report-position.ts): they say nothing of a failed restore. */
const REPORTER_REASONS = ['not running', 'not in recovery', 'starting', 'not reachable: '];

/**
 * docs/wal.md "Fallbacks": a fallback is reseeded only when it is broken (not
 * running, a failed or interrupted restore, out of recovery), diverged (another
 * server lineage, or a timeline the snapshot's history does not let it follow), or
 * stuck (not streaming, and the archive no longer holds the WAL from its replay
 * position on). Otherwise it keeps running and catches up by itself.
 */
export async function judgeFallback(input: FallbackVerdictInput): Promise<FallbackVerdict> {
  const { position, state, snapshot } = input;
  const server = snapshot.server;
  if (position === undefined || server === undefined) return { follow: false, why: 'it replays no WAL' };
  if (state === undefined) return { follow: false, why: 'it was never imported' };
  if (!state.healthy && !REPORTER_REASONS.some((reason) => (state.reason ?? '').startsWith(reason))) {
    return { follow: false, why: `its last import failed (${state.reason ?? 'unknown'})` };
  }
  if (!position.running) return { follow: false, why: 'it is not running' };
  if (position.systemIdentifier !== undefined && position.systemIdentifier !== server.systemIdentifier) {
    return {
      follow: false,
      why: `it is of system ${position.systemIdentifier}, the snapshot of ${server.systemIdentifier}`,
    };
  }
  // On its way to a consistent point: it answers once there.
  if (position.starting === true) return { follow: true };
  if (position.inRecovery !== true) return { follow: false, why: 'it is not in recovery' };
  if (
    position.systemIdentifier === undefined ||
    position.lsn === undefined ||
    position.timeline === undefined
  ) {
    return { follow: false, why: 'its position is unknown' };
  }
  const stream = walStreamName(input.component, server.systemIdentifier);
  const options = input.signal === undefined ? {} : { signal: input.signal };
  if (position.timeline > server.timeline) {
    return {
      follow: false,
      why: `it is on timeline ${position.timeline}, past the snapshot's ${server.timeline}`,
    };
  }
  if (position.timeline < server.timeline) {
    const fork = await forkPoint(input.archive, stream, server.timeline, position.timeline, options);
    if (fork === undefined || parseLsn(position.lsn) > fork) {
      return {
        follow: false,
        why: `it replayed timeline ${position.timeline} past where timeline ${server.timeline} forked from it`,
      };
    }
  }
  if (position.source === 'streaming') return { follow: true };
  // Not streaming: only the archive can feed it, from the segment it is in.
  const held = (await listWal(input.archive, stream, options)).filter(
    (object) => !object.history && object.timeline === position.timeline,
  );
  const newest = held.at(-1);
  const header =
    newest === undefined
      ? undefined
      : await readWalHeader(input.archive, stream, newest.name, { partial: newest.partial, ...options });
  if (header === undefined) {
    return {
      follow: false,
      why: `it does not stream and the archive holds no WAL of timeline ${position.timeline}`,
    };
  }
  const needed = segmentOfLsn(position.lsn, position.timeline, header.segmentSize);
  if (!held.some((object) => object.name >= needed) || (held[0] !== undefined && held[0].name > needed)) {
    return {
      follow: false,
      why: `it does not stream and the archive no longer holds segment ${needed} it replays from`,
    };
  }
  return { follow: true };
}

/**
 * Where timeline `timeline` forked from `parent`, by `timeline`'s history file in the
 * archive (lines `parentTLI  switchpoint  reason`); undefined when unknown.
 */
async function forkPoint(
  archive: Archive,
  stream: string,
  timeline: number,
  parent: number,
  options: { signal?: AbortSignal },
): Promise<bigint | undefined> {
  const history = await fetchWalFile(archive, stream, historyFileName(timeline), options);
  if (history === undefined) return undefined;
  for (const line of history.content.toString('utf8').split('\n')) {
    const [tli, switchpoint] = line.trim().split(/\s+/);
    if (tli !== undefined && Number(tli) === parent && switchpoint !== undefined)
      return parseLsn(switchpoint);
  }
  return undefined;
}
