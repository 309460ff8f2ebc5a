import { isNotFound } from '@pullback/storage';
import type { Archive } from '../repository/archive.js';

/** What a restore drill found about a snapshot (docs/wal.md "Proofs"). */
export interface SnapshotProof {
  /** When the drill ended, ISO 8601. */
  readonly at: string;
  /** Who ran it: the agent and the fallback it serves. */
  readonly by: string;
  /** The snapshot restored, started and answered. */
  readonly ok: boolean;
  /** Why not, one line. */
  readonly reason?: string;
}

const PREFIX = 'proofs/';
const SNAPSHOT_ID = /^[0-9a-f]{64}$/;

/** The AAD names the snapshot, so a proof copied to another snapshot's name does not open. */
function aadOf(snapshotId: string): Buffer {
  return Buffer.from(`pullback proof ${snapshotId}`);
}

function checkId(snapshotId: string): void {
  if (!SNAPSHOT_ID.test(snapshotId)) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
}

/**
 * Records the proof of `snapshotId`: `proofs/<snapshotId>`, sealed JSON. A later
 * drill of the same snapshot replaces it (the one object of the archive that a
 * writer may replace besides locks; its loss costs only the record of a drill).
 */
export async function recordProof(
  archive: Archive,
  snapshotId: string,
  proof: SnapshotProof,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  checkId(snapshotId);
  await archive.backend.save(`${PREFIX}${snapshotId}`, archive.sealJson(proof, aadOf(snapshotId)), options);
}

/**
 * Every recorded proof, by snapshot id. A proof that fails authentication is
 * skipped with a warning (it proves nothing), as is one removed meanwhile (prune).
 */
export async function listProofs(
  archive: Archive,
  options: { signal?: AbortSignal } = {},
): Promise<Map<string, SnapshotProof>> {
  const names: string[] = [];
  for await (const info of archive.backend.list(PREFIX, options)) names.push(info.name);
  const proofs = new Map<string, SnapshotProof>();
  for (const name of names.sort()) {
    const snapshotId = name.slice(PREFIX.length);
    if (!SNAPSHOT_ID.test(snapshotId)) continue;
    let sealed: Buffer;
    try {
      sealed = await archive.loadObject(name, options.signal);
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    try {
      proofs.set(snapshotId, archive.openJson<SnapshotProof>(sealed, aadOf(snapshotId), `proof ${name}`));
    } catch (error) {
      archive.warn(name, (error as Error).message);
    }
  }
  return proofs;
}
