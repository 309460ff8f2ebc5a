import { readdir } from 'node:fs/promises';
import {
  type Archive,
  findSnapshot,
  type RestoreOptions,
  type RestoreResult,
  restoreSnapshot,
} from '@pullback/archive';
import { PipelineError } from '../domain/errors.js';
import { snapshotTablespaces } from '../domain/snapshot-description.js';
import { linkTablespaces, placeTablespaces } from './place-tablespaces.js';
import type { TablespaceMap } from './tablespace-locations.js';

export interface RestoreWithTablespacesOptions extends Omit<RestoreOptions, 'relocate'> {
  /** Tablespace locations moved (`--tablespace-map`, `instance.tablespaces`). Default: none, each at its original location. */
  readonly tablespaceMap?: TablespaceMap;
}

/**
 * Restores a snapshot into `options.target` with its tablespaces (if any) each at its
 * location (`placeTablespaces`), `pg_tblspc/<oid>` pointing there. Unless a delta, a
 * location that holds anything is refused, naming the tablespace, before anything is
 * written. The one way every restore of a data directory places tablespaces: the CLI's,
 * audits', drills' and imports'.
 */
export async function restoreWithTablespaces(
  archive: Archive,
  snapshotRef: string,
  options: RestoreWithTablespacesOptions,
): Promise<RestoreResult> {
  const { tablespaceMap, ...restore } = options;
  const snapshot = await findSnapshot(archive, snapshotRef, {
    component: options.component,
    signal: options.signal,
  });
  const placement = placeTablespaces(snapshotTablespaces(snapshot), tablespaceMap);
  if (!options.delta) {
    for (const [oid, location] of Object.entries(placement.locations)) {
      const names = await readdir(location).catch(() => []);
      if (names.length > 0) {
        throw new PipelineError(
          'tablespace-location',
          `tablespace ${oid} cannot be restored at ${location}: it is not empty`,
          { hint: 'empty it, or restore the tablespace elsewhere with --tablespace-map OLD=NEW' },
        );
      }
    }
  }
  const result = await restoreSnapshot(archive, snapshot.id, { ...restore, relocate: placement.relocate });
  await linkTablespaces(options.target, placement);
  return result;
}
