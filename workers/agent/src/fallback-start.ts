import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { holdLock, PipelineError, type Registry } from '@pullback/pipeline';
import { postmasterStatus } from '@pullback/recipe-postgres';

export interface FallbackStartOptions {
  readonly instance: string;
  readonly registry: Registry;
  /** Starts the server and waits until it accepts connections. */
  readonly start: (dataDir: string) => Promise<void>;
}

/** The import lock's TTL while a start runs; renewed every third of it. */
const LOCK_TTL_MS = 60_000;

/**
 * The supervisor's start of a fallback's server, under the instance's import lock
 * (`import.<instance>`, as applySnapshot and the rejoin hold it): a start never races
 * an import restoring the same directory, which stops and starts the server itself.
 * Without the lock, a start made as soon as the restore wrote standby.signal fought the
 * import's own start, and the failed one, reported unhealthy, made the next import
 * reseed the fallback again. Resolves with a reason when it did not start it now: the
 * lock is held, or, once held, the server runs already or the directory is no
 * standby's (the import that held the lock left it so, or is not done).
 */
export function startFallbackUnderImportLock(
  options: FallbackStartOptions,
): (dataDir: string) => Promise<string | undefined> {
  return async (dataDir) => {
    try {
      return await holdLock(
        options.registry,
        `import.${options.instance}`,
        { ttlMs: LOCK_TTL_MS, what: `start of ${options.instance}` },
        async () => {
          if ((await postmasterStatus(dataDir)).running) return `${options.instance} runs already`;
          const standby = await access(join(dataDir, 'standby.signal')).then(
            () => true,
            () => false,
          );
          if (!standby) return `${dataDir} is no standby's data directory now`;
          await options.start(dataDir);
          return undefined;
        },
      );
    } catch (error) {
      if (error instanceof PipelineError && error.code === 'busy') return error.message;
      throw error;
    }
  };
}
