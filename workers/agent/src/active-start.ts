import type { EpochRecordStore } from './epoch-record.js';

export interface ActiveStartOptions {
  readonly instance: string;
  readonly record: EpochRecordStore;
  /** Starts the server and waits until it accepts connections. */
  readonly start: (dataDir: string) => Promise<unknown>;
}

/**
 * The supervisor's start of the active's server, only while the instance's epoch record
 * names it active, checked and started under the record's lock. The permission keeper's
 * view that the supervisor asks is renewed every `renewMs`: in between, a switchover's
 * new epoch had demoted and stopped the old active, and its supervisor, still seeing
 * permission, started it writable again while the new active was promoted
 * (soak:election: two writable for 0.4 s, 6 acknowledged writes lost). Under the lock a
 * new epoch is recorded either before the check (no start) or after the start (and its
 * demotion stops what started, the switchover reading where its WAL ends after it).
 * Resolves with a reason when it did not start it.
 */
export function startActiveWhileRecorded(
  options: ActiveStartOptions,
): (dataDir: string) => Promise<string | undefined> {
  return (dataDir) =>
    options.record.exclusive(async () => {
      const recorded = await options.record.read();
      if (recorded !== undefined && recorded.active !== options.instance) {
        return `its epoch record names ${recorded.active} active at epoch ${recorded.epoch}`;
      }
      await options.start(dataDir);
      return undefined;
    });
}
