import { completeName } from './format.js';
import type { Outbox } from './outbox.js';

/**
 * Removes every object of export `exportId` from the outbox: the one removal, used by
 * a failed export, a stale one and a finished pull. COMPLETE goes first, so that from
 * the first removal on the artifact no longer reads as complete: an interrupted
 * removal leaves data objects without COMPLETE, which a pull refuses, a retried export
 * replaces and a retried removal finishes.
 */
export async function removeArtifact(outbox: Outbox, exportId: string, signal?: AbortSignal): Promise<void> {
  const complete = completeName(exportId);
  const names: string[] = [];
  for await (const info of outbox.list(`${exportId}/`, signal === undefined ? {} : { signal })) {
    names.push(info.name);
  }
  if (names.includes(complete)) await outbox.remove(complete);
  for (const name of names) if (name !== complete) await outbox.remove(name);
}
