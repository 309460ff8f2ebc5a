import type { Config } from '../config/schema.js';
import type { RecordedEpoch } from '../registry/records.js';
import { within } from '../within-time.js';
import { type PeriodicTask, startPeriodicTask } from './periodic-task.js';
import type { Pipeline, RegistryRestore } from './pipeline.js';

export interface RegistryGuardOptions {
  /** How often the registry's marker is checked besides each reconnection, in ms. Default: 10 000. */
  readonly intervalMs?: number;
  /**
   * The highest epoch of each component recorded outside Redis (the archive, the
   * instances' epoch records) and the active those records name at it. Default: none
   * (epoch 1, the config's active).
   */
  readonly lowestEpochs?: () => Promise<Readonly<Record<string, RecordedEpoch>>>;
  /**
   * How long one check may take before the next round tries again, in ms. Default:
   * 15 000. A check that never settles (a read of the archive or an agent that hangs, a
   * command lost across Redis's restart) must not hold every later check off.
   */
  readonly checkTimeoutMs?: number;
  /** Told what was restored, once per restoration. */
  readonly onRestored: (restore: RegistryRestore) => void;
  readonly onError: (error: Error) => void;
}

/**
 * Keeps the registry in Redis while the process runs. Redis holds coordination only,
 * and one restarted empty (no persistence) forgets every component and job scheduler:
 * nothing would be exported again. Whenever the connection is ready again, and every
 * `intervalMs` for a Redis that lost its data without dropping the connection, the
 * guard restores the registry from the config (`Pipeline.restoreIfReset`), at the
 * epoch and with the active that `lowestEpochs` reads from outside Redis.
 */
export function guardRegistry(
  pipeline: Pipeline,
  config: Config,
  options: RegistryGuardOptions,
): PeriodicTask {
  const lowestEpochs = options.lowestEpochs ?? (async () => ({}));
  let stopped = false;
  let checking: Promise<void> | undefined;
  const check = (): Promise<void> => {
    const timeoutMs = options.checkTimeoutMs ?? 15_000;
    // Restoring is idempotent (an upsert, then a marker set only if absent): a check
    // given up on may finish beside the next one without harm.
    checking ??= within(
      pipeline.restoreIfReset(config, lowestEpochs),
      timeoutMs,
      () => new Error(`the registry check took over ${timeoutMs} ms; trying again`),
    )
      .then((restore) => {
        if (restore !== undefined) options.onRestored(restore);
      })
      .catch((error: Error) => {
        // Stopped: the connection is being closed under the check, which is no news.
        if (!stopped) options.onError(error);
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };
  const onReady = () => void check();
  pipeline.connection.on('ready', onReady);
  // A check waits for Redis while it is away: stopping does not wait for it to return.
  const round = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      check().then(done);
    });
  const periodic = startPeriodicTask(options.intervalMs ?? 10_000, round, options.onError);
  return {
    stop: async () => {
      stopped = true;
      pipeline.connection.off('ready', onReady);
      await periodic.stop();
    },
  };
}

/** The line a process logs when it restored the registry. */
export function describeRestore(restore: RegistryRestore): string {
  const components = `${restore.components} component${restore.components === 1 ? '' : 's'}`;
  const actives = Object.entries(restore.actives ?? {}).map(
    ([component, active]) => `${active} of ${component}`,
  );
  const recorded = actives.length === 0 ? '' : `; active as the instances record: ${actives.join(', ')}`;
  return `registry was reset: restored ${components} from the config, epoch ${restore.epoch}${recorded}`;
}
