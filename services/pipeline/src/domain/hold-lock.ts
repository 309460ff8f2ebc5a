import type { Registry } from '../registry/registry.js';
import { PipelineError } from './errors.js';

/**
 * Runs `work` under registry lock `scope`: fails with `busy` when another holder has
 * it, renews it every third of `ttlMs`, and aborts the signal given to `work` with
 * `lock-lost` if it expires meanwhile (Redis unreachable for a whole TTL), so that
 * work never goes on unprotected.
 */
export async function holdLock<T>(
  registry: Registry,
  scope: string,
  options: { ttlMs: number; what: string; signal?: AbortSignal },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lock = await registry.acquireLock(scope, options.ttlMs);
  if (lock === undefined) throw new PipelineError('busy', `${options.what}: ${scope} is busy`);
  const lost = new AbortController();
  const renewal = setInterval(
    () => {
      lock.renew().then(
        (held) => {
          if (!held) lost.abort(new PipelineError('lock-lost', `${options.what}: lock ${scope} expired`));
        },
        () => {
          // Redis unreachable for a moment: the next renewal tries again; the TTL decides.
        },
      );
    },
    Math.max(500, Math.floor(options.ttlMs / 3)),
  );
  renewal.unref();
  const signal = options.signal === undefined ? lost.signal : AbortSignal.any([options.signal, lost.signal]);
  try {
    return await work(signal);
  } catch (error) {
    // The lock's loss explains an abort better than the abort itself.
    throw lost.signal.aborted && !options.signal?.aborted ? lost.signal.reason : error;
  } finally {
    clearInterval(renewal);
    await lock.release().catch(() => {});
  }
}
