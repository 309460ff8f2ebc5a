import type { Archive, ProgressListener, Snapshot } from '@pullback/archive';
import {
  type AuditServer,
  describeSnapshot,
  restoreWithTablespaces,
  type TablespaceMap,
} from '@pullback/pipeline';
import { builtInRecipe } from '@pullback/workers';
import { CliError } from './errors.js';
import { ensurePortFree } from './port-in-use.js';

export type { AuditServer };

export interface AuditOptions {
  readonly target: string;
  readonly port: number;
  /** Tablespaces moved (`--tablespace-map`). Default: each at its original location. */
  readonly tablespaceMap?: TablespaceMap;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
}

/**
 * `restore --start`: has the snapshot's recipe run it read-only on `port`
 * (`Recipe.startAudit`); the archive's restore writes the tree where the recipe says.
 */
export async function startAuditServer(
  archive: Archive,
  snapshot: Snapshot,
  options: AuditOptions,
): Promise<AuditServer> {
  const description = describeSnapshot(snapshot);
  // Snapshots were not always tagged with their recipe; only PostgreSQL's could start.
  const name = description.recipe ?? 'postgres';
  const recipe = builtInRecipe(name);
  if (recipe?.startAudit === undefined) {
    throw new CliError(
      `snapshot ${snapshot.id.slice(0, 12)} is of the ${name} recipe; --start runs PostgreSQL snapshots only`,
    );
  }
  await ensurePortFree(options.port);
  return recipe.startAudit({
    snapshotId: snapshot.id,
    snapshot: description,
    target: options.target,
    port: options.port,
    restore: async (directory) => {
      await restoreWithTablespaces(archive, snapshot.id, {
        target: directory,
        ...(options.tablespaceMap === undefined ? {} : { tablespaceMap: options.tablespaceMap }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      });
    },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}
