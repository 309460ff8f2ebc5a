import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/**
 * A full garbage collection, now. The native lz4 and BLAKE3 bindings return Buffers
 * whose memory V8 does not count (freed by N-API finalizers, which run once V8 has
 * collected the Buffer and the event loop has turned), so V8 sees little reason to
 * collect while a worker compresses hundreds of MB per second: memory would follow
 * throughput instead of what is in flight. Worker threads collect after every few tens
 * of MiB of work (a few ms each) and then return to their event loop.
 */
export function collectGarbage(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Calls `collectGarbage` once `every` bytes have been counted. */
export class GarbageBudget {
  private since = 0;

  constructor(private readonly every: number) {}

  /** True when it collected. */
  spend(bytes: number): boolean {
    this.since += bytes;
    if (this.since < this.every) return false;
    this.since = 0;
    collectGarbage();
    return true;
  }
}
