import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: ((options?: { type: 'minor' }) => void) | undefined;

/**
 * A full garbage collection, now. The native lz4 and BLAKE3 bindings return Buffers
 * whose memory V8 does not count (freed by N-API finalizers, which run once V8 has
 * collected the Buffer and the event loop has turned), so V8 sees little reason to
 * collect while a worker compresses hundreds of MB per second: memory would follow
 * throughput instead of what is in flight. Worker threads collect after every few tens
 * of MiB of work (a few ms each) and then return to their event loop.
 */
export function collectGarbage(kind: 'full' | 'minor' = 'full'): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as typeof collect;
  }
  if (kind === 'minor') collect!({ type: 'minor' });
  else collect!();
}

/** Full collections are this many times rarer than minor ones (`GarbageBudget`). */
const MINOR_PER_FULL = 8;

/**
 * Collects once `every` bytes have been counted: a minor collection (a scavenge, well
 * under a millisecond) frees the Buffers a task just dropped, which die young; every
 * MINOR_PER_FULL-th is a full one, for those that lived long enough to be promoted. A
 * full collection each time cost 4 ms or more: 8% of a worker's time in a scale-500
 * incremental backup, with no lower peak.
 */
export class GarbageBudget {
  private since = 0;
  private collections = 0;

  constructor(private readonly every: number) {}

  /** True when it collected. */
  spend(bytes: number): boolean {
    this.since += bytes;
    if (this.since < this.every) return false;
    this.since = 0;
    collectGarbage(++this.collections % MINOR_PER_FULL === 0 ? 'full' : 'minor');
    return true;
  }
}
