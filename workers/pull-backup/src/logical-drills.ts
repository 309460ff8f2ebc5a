import type { Archive, Snapshot } from '@pullback/archive';
import {
  type ComponentConfig,
  describeSnapshot,
  drillSnapshot,
  type Pipeline,
  type Recipe,
} from '@pullback/pipeline';

/** Who the registry and the archive's proofs name as having drilled a logical snapshot. */
export const LOGICAL_DRILLER = 'pull-backup';

/** Restore drills of logical snapshots, run one at a time beside the pulls. */
export interface LogicalDrills {
  /** Queues the drill of a logical snapshot just pulled; it runs after those queued before. */
  drill(component: string, config: ComponentConfig, snapshot: Snapshot): void;
  /** Aborts the drill under way (its claim lapses; nothing is recorded) and drops the rest. */
  stop(): Promise<void>;
}

/**
 * Proves logical snapshots: no fallback imports them, so no import agent drills them
 * (`applySnapshot`), and the pull side, which holds the archive and its key, does. A
 * drill restores the dumps into a scratch server (the recipe's `startAudit`: it must
 * start and hold every database dumped), stops and removes it, and records the verdict
 * as every drill does (`drillSnapshot`: registry and `proofs/`). Drills run outside the
 * pull job, one at a time, so a long restore never holds up the next pull.
 */
export function startLogicalDrills(options: {
  readonly pipeline: Pipeline;
  readonly archive: Archive;
  readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
  /** Where the scratch servers go. */
  readonly scratchDir: string;
}): LogicalDrills {
  const { pipeline } = options;
  const stopping = new AbortController();
  let queue: Promise<void> = Promise.resolve();
  return {
    drill(component, config, snapshot) {
      if (stopping.signal.aborted) return;
      queue = queue.then(async () => {
        if (stopping.signal.aborted) return;
        await drillSnapshot({
          component,
          instance: LOGICAL_DRILLER,
          snapshotId: snapshot.id,
          snapshot: describeSnapshot(snapshot),
          archive: options.archive,
          recipe: options.recipeFor(config, component),
          registry: pipeline.registry,
          scratchDir: options.scratchDir,
          signal: stopping.signal,
        }).catch((error: Error) => {
          if (!stopping.signal.aborted)
            pipeline.onError(error, `restore drill of ${snapshot.id.slice(0, 12)}`);
        });
      });
    },
    async stop() {
      stopping.abort();
      await queue;
    },
  };
}
