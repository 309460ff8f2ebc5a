import type { Registry, RegistryLock } from '../registry/registry.js';

/** A registry lock held by renewal; its signal aborts the moment a renewal fails. */
export interface Lease {
  readonly signal: AbortSignal;
  /** Stops renewing and releases the lock. */
  release(): Promise<void>;
}

/**
 * Takes lock `scope` for `ttlMs` and renews it every `renewMs`. A renewal that fails
 * (taken over, expired, or Redis unreachable) aborts the lease's signal at once: with
 * a short TTL another worker may take over within seconds, and two holders must
 * never work at once. Undefined when another holder has it.
 */
export async function takeLease(
  registry: Registry,
  scope: string,
  options: { ttlMs: number; renewMs: number },
): Promise<Lease | undefined> {
  const lock: RegistryLock | undefined = await registry.acquireLock(scope, options.ttlMs);
  if (lock === undefined) return undefined;
  const lost = new AbortController();
  const loseWith = (why: string) => {
    clearInterval(renewal);
    lost.abort(new Error(`lock ${scope} lost: ${why}`));
  };
  const renewal = setInterval(() => {
    lock.renew().then(
      (held) => {
        if (!held) loseWith('taken over or expired');
      },
      (error: Error) => loseWith(error.message),
    );
  }, options.renewMs);
  renewal.unref();
  return {
    signal: lost.signal,
    release: async () => {
      clearInterval(renewal);
      if (!lost.signal.aborted) await lock.release().catch(() => {});
    },
  };
}
