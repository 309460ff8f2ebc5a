import { type Archive, findSnapshot, type Snapshot } from '@pullback/archive';
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
  /** Asks for the drill of a logical snapshot just pulled; it replaces one of the component still waiting. */
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
 * pull job, one at a time, so a long restore never holds up the next pull; per
 * component only the newest snapshot waits (as imports supersede older ones), and one
 * that retention forgot meanwhile is not drilled.
 */
export function startLogicalDrills(options: {
  readonly pipeline: Pipeline;
  readonly archive: Archive;
  readonly recipeFor: (component: ComponentConfig, name: string) => Recipe;
  /** Where the scratch servers go. */
  readonly scratchDir: string;
}): LogicalDrills {
  const { pipeline, archive } = options;
  const stopping = new AbortController();
  const signal = stopping.signal;
  const waiting = new Map<string, { config: ComponentConfig; snapshot: Snapshot }>();
  let running: Promise<void> | undefined;

  const drillOne = async (component: string, config: ComponentConfig, snapshot: Snapshot) => {
    const still = await findSnapshot(archive, snapshot.id, { component, signal }).catch(() => undefined);
    if (still === undefined || signal.aborted) return;
    await drillSnapshot({
      component,
      instance: LOGICAL_DRILLER,
      snapshotId: snapshot.id,
      snapshot: describeSnapshot(snapshot),
      archive,
      recipe: options.recipeFor(config, component),
      registry: pipeline.registry,
      scratchDir: options.scratchDir,
      signal,
    });
  };
  const drain = async () => {
    for (
      let next = waiting.entries().next();
      !next.done && !signal.aborted;
      next = waiting.entries().next()
    ) {
      const [component, { config, snapshot }] = next.value;
      waiting.delete(component);
      await drillOne(component, config, snapshot).catch((error: Error) => {
        if (!signal.aborted) pipeline.onError(error, `restore drill of ${snapshot.id.slice(0, 12)}`);
      });
    }
    running = undefined;
  };
  return {
    drill(component, config, snapshot) {
      if (signal.aborted) return;
      waiting.set(component, { config, snapshot });
      running ??= drain();
    },
    async stop() {
      stopping.abort();
      waiting.clear();
      await running;
    },
  };
}
