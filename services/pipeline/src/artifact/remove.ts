import { completeName } from './format.js';
import type { Outbox } from './outbox.js';

/**
 * Removes every object of export `exportId` from the outbox, the data objects first
 * and COMPLETE last. An interrupted removal leaves a COMPLETE whose objects are
 * partly gone; that is safe because it only happens once the artifact is no longer
 * needed: its snapshot is committed (a retried pull finds the snapshot by export id
 * and finishes the removal) or it was refused (stale).
 */
export async function removeArtifact(outbox: Outbox, exportId: string, signal?: AbortSignal): Promise<void> {
  const complete = completeName(exportId);
  const names: string[] = [];
  for await (const info of outbox.list(`${exportId}/`, signal === undefined ? {} : { signal })) {
    if (info.name !== complete) names.push(info.name);
  }
  for (const name of names) await outbox.remove(name);
  for await (const info of outbox.list(complete)) {
    if (info.name === complete) await outbox.remove(complete);
  }
}
