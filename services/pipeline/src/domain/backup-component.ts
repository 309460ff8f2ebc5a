import { randomUUID } from 'node:crypto';
import type { Archive } from '@pullback/archive';
import { listSnapshots } from '@pullback/archive';
import type { ArtifactKind, ArtifactManifest } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import { removeArtifact } from '../artifact/remove.js';
import type { ComponentConfig } from '../config/schema.js';
import type { Recipe } from '../recipe.js';
import { applyComponentRetention } from './component-retention.js';
import { isPipelineError, PipelineError } from './errors.js';
import { exportArtifact } from './export-artifact.js';
import { exportIdFor } from './export-id.js';
import { instanceLocation } from './instance-location.js';
import type { StepProgressListener } from './progress.js';
import { type ForgetSnapshots, type PullArtifactResult, pullArtifact } from './pull-artifact.js';
import { PullInPlace } from './pull-in-place.js';
import { describeSnapshot } from './snapshot-description.js';

export interface BackupComponentInput {
  readonly component: string;
  readonly config: ComponentConfig;
  readonly recipe: Recipe;
  /** The component's outbox, opened. */
  readonly outbox: Outbox;
  readonly archive: Archive;
  /** See `IngestArtifactInput.stagingDir`. */
  readonly stagingDir: string;
  /** The instance to export. Default: the config's initial active (there is no registry to ask). */
  readonly instance?: string;
  /** Default: a new id. */
  readonly exportId?: string;
  /** Default: physical. */
  readonly kind?: ArtifactKind;
  readonly forget?: ForgetSnapshots;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
  /** Read everything (`backup --full`); see ExportInput. Default: false. */
  readonly full?: boolean;
  /** This machine's state directory, where the recipe keeps its record of the previous export. */
  readonly stateDir?: string;
}

export interface BackupComponentResult extends PullArtifactResult {
  /** What the export's artifact said (no objects when it was archived in place). */
  readonly export: ArtifactManifest;
}

/**
 * `pullback backup <component>`: one export and its pull, with no Redis: the
 * recipe writes the artifact into the outbox, then it is ingested as a snapshot
 * (epoch tag absent) and removed from the outbox; or, for a full read of a recipe
 * that reads the files itself, they are archived in place as it reads them
 * (`PullInPlace`) and nothing is staged. No fallback is touched.
 */
export async function backupComponent(input: BackupComponentInput): Promise<BackupComponentResult> {
  const { component, config, signal } = input;
  const exportId = input.exportId ?? exportIdFor(component, randomUUID(), Date.now());
  const active = input.instance ?? config.instances.find((instance) => instance.role === 'active')?.name;
  const location = active === undefined ? undefined : instanceLocation(config, active);
  if (active !== undefined && location === undefined) {
    throw new PipelineError(
      'unknown-component',
      `backup of ${component}: no instance ${active} in the config`,
    );
  }
  const common = {
    component,
    config,
    recipe: input.recipe,
    ...(location === undefined ? {} : { instance: location }),
    outbox: input.outbox,
    ...(input.kind === undefined ? {} : { kind: input.kind }),
    ...(signal === undefined ? {} : { signal }),
    ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
    ...(input.stateDir === undefined ? {} : { stateDir: input.stateDir }),
  };
  const pull = (id: string) =>
    pullArtifact({
      component,
      config,
      exportId: id,
      epoch: 0,
      outbox: input.outbox,
      archive: input.archive,
      stagingDir: input.stagingDir,
      ...(input.forget === undefined ? {} : { forget: input.forget }),
      ...(signal === undefined ? {} : { signal }),
      ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
      ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    });
  // The pull needs every index object; they are read while the export runs.
  input.archive.prefetchIndexes(signal);
  const kind = input.kind ?? 'physical';
  const snapshots = await listSnapshots(input.archive, { component, ...(signal ? { signal } : {}) });
  const newest = snapshots.filter((snapshot) => describeSnapshot(snapshot).kind === kind).at(-1);
  // A recipe that reads the files itself archives a full read in place, no artifact.
  const exportAndPull = async (id: string, full: boolean | undefined): Promise<BackupComponentResult> => {
    const inPlace = new PullInPlace({
      archive: input.archive,
      component,
      recipe: input.recipe.name,
      kind,
      exportId: id,
      stagingDir: input.stagingDir,
      parent: newest?.id ?? null,
      ...(signal === undefined ? {} : { signal }),
      ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
      ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    });
    const manifest = await exportArtifact({
      ...common,
      exportId: id,
      ...(full === undefined ? {} : { full }),
      newestExportId: newest === undefined ? null : (describeSnapshot(newest).exportId ?? null),
      inPlace,
    });
    const { snapshot } = inPlace;
    if (snapshot === undefined) return { ...(await pull(id)), export: manifest };
    const retention = await applyComponentRetention({
      archive: input.archive,
      component,
      config,
      snapshots: [...snapshots, snapshot],
      snapshot,
      ...(input.forget === undefined ? {} : { forget: input.forget }),
      ...(signal === undefined ? {} : { signal }),
    });
    return { snapshot, reused: false, imports: [], ...retention, export: manifest };
  };
  try {
    return await exportAndPull(exportId, input.full);
  } catch (error) {
    if (!isPipelineError(error, 'stale-parent')) throw error;
    // The archive moved on under the export (or never had its parent): read everything.
    input.onWarning?.(`${error.message}; exporting in full`);
    await removeArtifact(input.outbox, exportId, signal);
    return exportAndPull(exportIdFor(component, randomUUID(), Date.now()), true);
  }
}
