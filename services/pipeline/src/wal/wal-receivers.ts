import type { Config, PostgresComponentConfig } from '../config/schema.js';
import type { Recipe } from '../recipe.js';
import type { Registry } from '../registry/registry.js';
import type { WalArchive } from './wal-archive.js';
import { type RunningWalReceiver, startWalReceiver, type WalReceiverOptions } from './wal-receiver.js';

export interface WalReceiversOptions
  extends Omit<WalReceiverOptions, 'component' | 'config' | 'recipe' | 'registry' | 'archive'> {
  readonly registry: Registry;
  readonly config: Config;
  readonly archive: WalArchive;
  /** The recipe of a component. */
  readonly recipeFor: (component: Config['components'][string], name: string) => Recipe;
}

/** The WAL receivers of a pull-backup worker, one per component that streams WAL. */
export interface WalReceivers {
  /** The components whose receivers run here (each streams only while this worker holds its lease). */
  readonly components: readonly string[];
  /**
   * Moves `component`'s receiver to the registry's current active at once (the call
   * for an activation; receivers in other processes follow the registry's `active`
   * within a report interval anyway).
   */
  move(component: string): void;
  stop(): Promise<void>;
}

/** Starts a receiver for every postgres component with `wal.enabled` whose recipe streams WAL. */
export function startWalReceivers(options: WalReceiversOptions): WalReceivers {
  const { config, recipeFor, ...rest } = options;
  const running = new Map<string, RunningWalReceiver>();
  for (const [name, component] of Object.entries(config.components)) {
    if (component.recipe !== 'postgres' || !component.wal.enabled) continue;
    const recipe = recipeFor(component, name);
    if (recipe.streamWal === undefined) continue;
    running.set(
      name,
      startWalReceiver({ ...rest, component: name, config: component as PostgresComponentConfig, recipe }),
    );
  }
  return {
    components: [...running.keys()],
    move: (component) => running.get(component)?.move(),
    stop: async () => {
      await Promise.all([...running.values()].map((receiver) => receiver.stop()));
    },
  };
}

/** Moves a component's WAL receiver to the registry's current active: one call for an activation. */
export function moveWalReceiver(receivers: WalReceivers, component: string): void {
  receivers.move(component);
}
