import type { Backend } from '@pullback/storage';
import { readAll } from '../repository/stream-bytes.js';

/**
 * Where repair keeps the objects it takes out of use (docs/repository-format.md §1):
 * no reader lists this prefix and prune never removes it, so the bytes of a damaged
 * object outlive the repair (a later tool may read them; a key mix-up may explain them).
 */
export const DAMAGED_PREFIX = 'damaged/';

/** An object repair moved aside, and where to. */
export interface QuarantinedObject {
  readonly name: string;
  readonly movedTo: string;
}

/**
 * Moves `name` under `damaged/`: copies it, then removes the original. A crash in
 * between leaves both, and the next repair copies it again. Held whole in memory so
 * that a retried save has the same bytes: only manifests and index objects come here.
 */
export async function quarantine(
  backend: Backend,
  name: string,
  signal: AbortSignal,
): Promise<QuarantinedObject> {
  const movedTo = `${DAMAGED_PREFIX}${name}`;
  const bytes = await readAll(await backend.load(name, undefined, { signal }));
  await backend.save(movedTo, bytes, { signal });
  await backend.remove(name, { signal });
  return { name, movedTo };
}
