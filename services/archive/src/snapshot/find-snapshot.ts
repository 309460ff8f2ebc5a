import { ArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { historyLabel, historyOf } from './history.js';
import { inScope, listSnapshots, type SnapshotScope } from './list-snapshots.js';
import { loadSnapshotById, openSnapshots, type Snapshot, snapshotIds } from './manifest.js';

/** The shortest id prefix taken: one or two characters would soon name several snapshots. */
export const MIN_PREFIX_LENGTH = 4;

/** At most this many candidates are named when a prefix is ambiguous. */
const CANDIDATES_SHOWN = 10;

/**
 * The one way a snapshot reference (a full id, a unique prefix of at least
 * `MIN_PREFIX_LENGTH` characters, or `latest`) becomes a snapshot, for every command
 * and job. A prefix that names several snapshots (in the scope) is refused with the
 * candidates in the hint, and so is `latest` over several histories (history.ts):
 * an audit must never restore the wrong snapshot.
 */
export async function findSnapshot(
  archive: Archive,
  ref: string,
  options: SnapshotScope = {},
): Promise<Snapshot> {
  const { component, signal } = options;
  const where = `${component === undefined ? '' : ` of component ${component}`} in archive ${archive.location}`;
  if (ref === 'latest') {
    const snapshots = await listSnapshots(archive, options);
    const latest = snapshots.at(-1);
    if (!latest) {
      throw new ArchiveError('unknown-snapshot', `no snapshot${where}`, {
        hint: 'back up first; `pullback snapshots` lists what the archive holds',
      });
    }
    // The newest of several histories is an accident of timing, not the one meant.
    const newest = new Map<string, Snapshot>();
    for (const snapshot of snapshots) newest.set(historyOf(snapshot), snapshot);
    if (newest.size > 1) {
      const named = [...newest.values()].map(
        (snapshot) => `${snapshot.id.slice(0, 12)} (${historyLabel(snapshot)})`,
      );
      throw new ArchiveError(
        'ambiguous-snapshot',
        `latest names no snapshot${where}: it holds ${newest.size} histories`,
        {
          hint: `name one with --component, or give the id of one of the newest: ${named.slice(0, CANDIDATES_SHOWN).join(', ')}${named.length > CANDIDATES_SHOWN ? ', …' : ''}`,
        },
      );
    }
    return latest;
  }
  if (!/^[0-9a-f]{1,64}$/.test(ref)) {
    throw new ArchiveError('unknown-snapshot', `not a snapshot id: ${JSON.stringify(ref)}`, {
      hint: `use an id (or a unique prefix of at least ${MIN_PREFIX_LENGTH} characters) from \`pullback snapshots\`, or latest`,
    });
  }
  if (ref.length < MIN_PREFIX_LENGTH) {
    throw new ArchiveError('unknown-snapshot', `snapshot id prefix ${ref} is too short`, {
      hint: `give at least ${MIN_PREFIX_LENGTH} characters of the id, as \`pullback snapshots\` lists it`,
    });
  }
  const ids = await snapshotIds(archive, ref, signal);
  // A lone match outside any scope needs no other check (a damaged one fails to load, as it should).
  if (component === undefined && ids.length === 1) return loadSnapshotById(archive, ids[0]!, signal);
  const { snapshots, damaged } = await openSnapshots(archive, ids, signal);
  // A damaged manifest cannot say its component: it stays a candidate.
  const matches = snapshots.filter((snapshot) => inScope(snapshot, options));
  if (matches.length === 0 && damaged.length === 0) {
    throw new ArchiveError('unknown-snapshot', `no snapshot ${ref}${where}`, {
      hint: `list snapshots with \`pullback snapshots${component === undefined ? '' : ` --component ${component}`}\``,
    });
  }
  if (matches.length === 1 && damaged.length === 0) return matches[0]!;
  if (matches.length === 0 && damaged.length === 1) return loadSnapshotById(archive, damaged[0]!, signal);
  throw ambiguous(ref, where, matches, damaged);
}

function ambiguous(
  ref: string,
  where: string,
  matches: readonly Snapshot[],
  damaged: readonly string[],
): ArchiveError {
  const ids = [...matches.map((snapshot) => snapshot.id), ...damaged];
  const shown = uniqueLength(ids);
  const named = [
    ...matches.map((snapshot) => `${snapshot.id.slice(0, shown)} (${snapshot.time})`),
    ...damaged.map((id) => `${id.slice(0, shown)} (damaged)`),
  ];
  const more = named.length > CANDIDATES_SHOWN ? `, and ${named.length - CANDIDATES_SHOWN} more` : '';
  return new ArchiveError(
    'ambiguous-snapshot',
    `snapshot id prefix ${ref} matches ${ids.length} snapshots${where}`,
    { hint: `give more characters of one of: ${named.slice(0, CANDIDATES_SHOWN).join(', ')}${more}` },
  );
}

/** How many characters tell these ids apart: 12, as `pullback snapshots` shows them, or more. */
function uniqueLength(ids: readonly string[]): number {
  const sorted = [...ids].sort();
  let length = 12;
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    let common = 0;
    while (common < a.length && a[common] === b[common]) common++;
    length = Math.max(length, common + 1);
  }
  return length;
}
