import {
  type Archive,
  isWalStream,
  listSnapshots,
  listWalStreams,
  parseLsn,
  parseWalStream,
  removeWalBefore,
} from '@pullback/archive';
import { isPipelineError } from './errors.js';
import { describeSnapshot } from './snapshot-description.js';

/** What retention did to one WAL stream. */
export interface ForgottenWal {
  readonly stream: string;
  /** Where the oldest kept snapshot of the stream starts: WAL from its segment on stays. */
  readonly keptFrom?: { readonly timeline: number; readonly lsn: string };
  /** Segments (and partials) removed, or that a dry run would remove. */
  readonly removed: number;
  readonly bytes: number;
}

/**
 * Drops the WAL no kept snapshot needs, per stream `<component>.<systemIdentifier>`:
 * the segments before the segment where the oldest kept physical snapshot of that
 * server starts (restoring it, or any later one, to any later moment needs everything
 * after). A stream with no kept snapshot keeps all its WAL, and so does a component
 * with a snapshot whose tags cannot be read (what it needs is unknown). Called by
 * `pullback forget` and the pull worker's retention, after snapshots are forgotten.
 */
export async function forgetWal(
  archive: Archive,
  options: {
    readonly component?: string;
    readonly dryRun?: boolean;
    /** Snapshot ids to count as forgotten already: a dry run's forget left them. */
    readonly forgotten?: ReadonlySet<string>;
    readonly signal?: AbortSignal;
  } = {},
): Promise<ForgottenWal[]> {
  const signal = options.signal ? { signal: options.signal } : {};
  const streams = (await listWalStreams(archive, signal)).filter(
    (stream) => options.component === undefined || parseWalStream(stream).component === options.component,
  );
  if (streams.length === 0) return [];
  const oldest = new Map<string, { timeline: number; lsn: string }>();
  const latestTimeline = new Map<string, number>();
  const unreadable = new Set<string>();
  for (const snapshot of await listSnapshots(archive, {
    ...(options.component === undefined ? {} : { component: options.component }),
    ...signal,
  })) {
    if (options.forgotten?.has(snapshot.id)) continue;
    let description: ReturnType<typeof describeSnapshot>;
    try {
      description = describeSnapshot(snapshot);
    } catch (error) {
      if (!isPipelineError(error) || snapshot.tags.component === undefined) throw error;
      unreadable.add(snapshot.tags.component);
      continue;
    }
    const { component, server, kind } = description;
    if (component === undefined || server === undefined || kind !== 'physical') continue;
    const stream = `${component}.${server.systemIdentifier}`;
    if (!isWalStream(stream)) continue;
    const known = oldest.get(stream);
    if (known === undefined || parseLsn(server.startLsn) < parseLsn(known.lsn)) {
      oldest.set(stream, { timeline: server.timeline, lsn: server.startLsn });
    }
    latestTimeline.set(stream, Math.max(latestTimeline.get(stream) ?? 0, server.timeline));
  }
  const results: ForgottenWal[] = [];
  for (const stream of streams) {
    const keptFrom = oldest.get(stream);
    if (keptFrom === undefined || unreadable.has(parseWalStream(stream).component)) {
      results.push({ stream, removed: 0, bytes: 0 });
      continue;
    }
    // Timelines up to the newest a kept snapshot is on: every kept snapshot starts at
    // or after keptFrom.lsn, so nothing before it is needed on any of them.
    const { removed, bytes } = await removeWalBefore(
      archive,
      stream,
      { timeline: latestTimeline.get(stream)!, lsn: keptFrom.lsn },
      { ...signal, dryRun: options.dryRun ?? false },
    );
    results.push({ stream, keptFrom, removed, bytes });
  }
  return results;
}
