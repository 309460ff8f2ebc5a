import type { Archive } from '../repository/archive.js';

const PROOFS = 'proofs/';

/**
 * Removes the restore-drill proofs (`proofs/<snapshot id>`, docs/wal.md) of snapshots
 * that are gone: only names are compared, no proof is opened. Run under prune's
 * exclusive lock, so no snapshot is being written meanwhile; a proof is only ever
 * recorded for a snapshot that exists.
 */
export async function removeOrphanProofs(
  archive: Archive,
  dryRun: boolean,
  signal: AbortSignal,
): Promise<number> {
  const snapshots = new Set<string>();
  for await (const info of archive.backend.list('snapshots/', { signal })) {
    snapshots.add(info.name.slice('snapshots/'.length));
  }
  const orphans: string[] = [];
  for await (const info of archive.backend.list(PROOFS, { signal })) {
    if (!snapshots.has(info.name.slice(PROOFS.length))) orphans.push(info.name);
  }
  if (!dryRun) for (const name of orphans) await archive.backend.remove(name, { signal });
  return orphans.length;
}
