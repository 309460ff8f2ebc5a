import type { FullStatus, Pipeline } from '../queues/pipeline.js';
import type { SnapshotHealth } from '../registry/records.js';

/** What a scrape reads of the registry: `pullback status --json`'s read model, and what it leaves out. */
export interface RegistryView {
  readonly status: FullStatus;
  /** Per component: activations since the registry was made. */
  readonly activationCounts: ReadonlyMap<string, number>;
  /** Per component: the snapshots a drill proved or failed with (the registry's health records). */
  readonly health: ReadonlyMap<string, Readonly<Record<string, SnapshotHealth>>>;
}

export async function readRegistryView(
  pipeline: Pick<Pipeline, 'readStatus' | 'registry'>,
): Promise<RegistryView> {
  const status = await pipeline.readStatus();
  const names = status.components.map((component) => component.name);
  const [counts, health] = await Promise.all([
    Promise.all(names.map((name) => pipeline.registry.activationCount(name))),
    Promise.all(names.map((name) => pipeline.registry.snapshotHealth(name))),
  ]);
  return {
    status,
    activationCounts: new Map(names.map((name, index) => [name, counts[index] ?? 0])),
    health: new Map(names.map((name, index) => [name, health[index] ?? {}])),
  };
}

/** What the registry knows of snapshots and proofs: the archive is listed again when it changes. */
export function registryKnows(view: RegistryView): string {
  return view.status.components
    .map((component) => {
      const good = Object.entries(view.health.get(component.name) ?? {})
        .filter(([, health]) => health.state === 'good')
        .map(([id]) => id)
        .sort();
      return `${component.name}:${component.lastSnapshot?.id ?? '-'}:${good.join(',')}`;
    })
    .join(' ');
}
