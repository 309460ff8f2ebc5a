import { ArchiveError } from '../errors.js';
import type { Archive } from '../repository/archive.js';
import { readSnapshots } from '../snapshot/manifest.js';

/**
 * Prune removes what no snapshot needs; what an unreadable snapshot needs cannot be
 * known, and the packs only an unreadable index lists look unlisted (the leftovers of
 * interrupted backups). Either would make prune delete data, so it refuses first.
 */
export async function refuseIfUnreadable(archive: Archive, signal: AbortSignal): Promise<void> {
  const { damaged } = await archive.readIndexes(signal);
  if (damaged.length > 0) {
    throw new ArchiveError(
      'corrupt',
      `index object ${damaged[0]} fails authentication${damaged.length > 1 ? ` (and ${damaged.length - 1} more)` : ''}: prune removes nothing while the index is damaged`,
      { hint: 'rebuild it from the packs with `pullback repair index`, then prune again' },
    );
  }
  const snapshots = await readSnapshots(archive, signal);
  if (snapshots.damaged.length > 0) {
    const id = snapshots.damaged[0]!;
    throw new ArchiveError(
      'corrupt',
      `snapshot ${id.slice(0, 12)} fails authentication${snapshots.damaged.length > 1 ? ` (and ${snapshots.damaged.length - 1} more)` : ''}: prune cannot tell what it needs, and removes nothing`,
      {
        hint: 'a manifest that fails authentication can never be read again: `pullback verify --repair` removes it; then prune again',
      },
    );
  }
}
