import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/**
 * A full garbage collection, now. The native lz4 and BLAKE3 bindings return Buffers
 * whose memory V8 does not count, and large Buffers moved between threads are counted
 * late, so V8 sees little reason to collect while a backup or restore allocates
 * hundreds of MB per second: peak memory would follow throughput instead of what is in
 * flight. Callers collect after every few tens of MiB of work (a few ms each).
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

  spend(bytes: number): void {
    this.since += bytes;
    if (this.since >= this.every) {
      this.since = 0;
      collectGarbage();
    }
  }
}
