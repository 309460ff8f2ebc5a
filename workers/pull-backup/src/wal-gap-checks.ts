import type { Archive } from '@pullback/archive';
import {
  type Config,
  checkWalGaps,
  type PeriodicTask,
  type Pipeline,
  startPeriodicTask,
} from '@pullback/pipeline';

/** The archive's WAL checked for gaps, for `status` (docs/wal.md): every so often, and after each pull. */
export interface WalGapChecks {
  /** Checks one component now (after its pull); a failure goes to the pipeline's `onError`. */
  checkComponent(component: string, signal?: AbortSignal): Promise<void>;
  /** Stops the periodic check; the one under way is aborted and awaited. */
  stop(): Promise<void>;
}

/**
 * Checks the WAL of the config's postgres components with `wal.enabled` every
 * `intervalMs` (0: only when asked). Several pull-backup workers may each check: the
 * registry's record is replaced atomically, and each finds the same gaps.
 */
export function startWalGapChecks(options: {
  readonly pipeline: Pipeline;
  readonly config: Config;
  readonly archive: Archive;
  readonly intervalMs: number;
}): WalGapChecks {
  const { pipeline, config, archive } = options;
  const components = Object.entries(config.components)
    .filter(([, component]) => component.recipe === 'postgres' && component.wal.enabled)
    .map(([name]) => name);
  const check = (names: readonly string[], signal?: AbortSignal) =>
    checkWalGaps({
      archive,
      registry: pipeline.registry,
      components: names,
      ...(signal === undefined ? {} : { signal }),
      // One stream that cannot be read (verify names it) does not hide the others' gaps.
      onError: (error, component) => pipeline.onError(error, `wal gap check of ${component}`),
    });
  const periodic: PeriodicTask | undefined =
    options.intervalMs > 0 && components.length > 0
      ? startPeriodicTask(
          options.intervalMs,
          async (signal) => {
            await check(components, signal);
          },
          (error) => pipeline.onError(error, 'wal gap check'),
        )
      : undefined;
  return {
    checkComponent: async (component, signal) => {
      if (!components.includes(component)) return;
      await check([component], signal).catch((error: Error) => {
        if (!signal?.aborted) pipeline.onError(error, `wal gap check of ${component}`);
      });
    },
    stop: async () => {
      await periodic?.stop();
    },
  };
}
