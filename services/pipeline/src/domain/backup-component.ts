import { randomUUID } from 'node:crypto';
import type { Archive } from '@pullback/archive';
import { listSnapshots } from '@pullback/archive';
import type { ArtifactKind } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import { removeArtifact } from '../artifact/remove.js';
import type { ComponentConfig } from '../config/schema.js';
import type { Recipe } from '../recipe.js';
import { isPipelineError, PipelineError } from './errors.js';
import { exportArtifact } from './export-artifact.js';
import { exportIdFor } from './export-id.js';
import { instanceLocation } from './instance-location.js';
import type { StepProgressListener } from './progress.js';
import { type ForgetSnapshots, type PullArtifactResult, pullArtifact } from './pull-artifact.js';
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

/**
 * `pullback backup <component>`: one export and its pull, with no Redis: the
 * recipe writes the artifact into the outbox, then it is ingested as a snapshot
 * (epoch tag absent) and removed from the outbox. No fallback is touched.
 */
export async function backupComponent(input: BackupComponentInput): Promise<PullArtifactResult> {
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
  const newest = (await listSnapshots(input.archive, { component, ...(signal ? { signal } : {}) }))
    .map((snapshot) => describeSnapshot(snapshot))
    .filter((described) => described.kind === 'physical')
    .at(-1);
  await exportArtifact({
    ...common,
    exportId,
    ...(input.full === undefined ? {} : { full: input.full }),
    newestExportId: newest?.exportId ?? null,
  });
  try {
    return await pull(exportId);
  } catch (error) {
    if (!isPipelineError(error, 'stale-parent')) throw error;
    // The archive moved on under the export (or never had its parent): read everything.
    input.onWarning?.(`${error.message}; exporting in full`);
    await removeArtifact(input.outbox, exportId, signal);
    const fullId = exportIdFor(component, randomUUID(), Date.now());
    await exportArtifact({ ...common, exportId: fullId, full: true });
    return pull(fullId);
  }
}
