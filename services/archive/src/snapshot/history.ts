import type { Snapshot } from './manifest.js';

/**
 * The component `backup files PATH` tags every tree it backs up with (a name no config
 * may give a component: services/pipeline/src/config/names.ts).
 */
const DIRECT_TREE_COMPONENT = 'files';

/**
 * The history a snapshot belongs to: what retention counts as one, and what `latest`
 * must name only one of. A component's snapshots are one history (a component is
 * staged in a fresh directory at every export, so its paths differ); a tree backed up
 * directly (`backup files PATH`, or without a component) is one per path.
 */
export function historyOf(snapshot: Snapshot): string {
  const { component } = snapshot.tags;
  return component === undefined || component === DIRECT_TREE_COMPONENT
    ? JSON.stringify(['path', component ?? null, snapshot.paths[0] ?? null])
    : JSON.stringify(['component', component]);
}

/** How a history is named to a user: its component, or the tree's path. */
export function historyLabel(snapshot: Snapshot): string {
  const { component } = snapshot.tags;
  return component === undefined || component === DIRECT_TREE_COMPONENT
    ? (snapshot.paths[0] ?? '?')
    : component;
}
