import type { Archive } from '@pullback/archive';
import * as archiveModule from '@pullback/archive';

/** A restore drill's outcome, as the archive keeps it (docs/wal.md, "Proofs"). */
export interface SnapshotProof {
  readonly at: string;
  readonly by: string;
  readonly ok: boolean;
  readonly reason?: string;
}

type ListProofs = (
  archive: Archive,
  options?: { signal?: AbortSignal },
) => Promise<Map<string, SnapshotProof>>;

/**
 * The proofs the archive holds, by snapshot id; empty with an archive library that
 * does not keep proofs yet (`listProofs` comes with the restore drills).
 */
export async function snapshotProofs(
  archive: Archive,
  signal?: AbortSignal,
): Promise<Map<string, SnapshotProof>> {
  const listProofs = (archiveModule as unknown as { listProofs?: ListProofs }).listProofs;
  if (listProofs === undefined) return new Map();
  return listProofs(archive, signal === undefined ? {} : { signal });
}
