import { parseDuration } from '@pullback/archive';
import type { ArtifactKind, ArtifactManifest } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import type { ComponentConfig } from '../config/schema.js';
import type { InPlaceArchive, InstanceLocation, Recipe } from '../recipe.js';
import { checkExportKind } from './export-kind.js';
import { type StepProgressListener, stepProgress } from './progress.js';

export interface ExportArtifactInput {
  readonly component: string;
  readonly config: ComponentConfig;
  readonly recipe: Recipe;
  /** The instance to export, when the component has one. */
  readonly instance?: InstanceLocation;
  readonly outbox: Outbox;
  readonly exportId: string;
  /** Default: the recipe's first kind (physical). */
  readonly kind?: ArtifactKind;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  readonly onWarning?: (message: string) => void;
  /** See ExportInput. */
  readonly full?: boolean;
  readonly stateDir?: string;
  readonly newestExportId?: string | null;
  /** See ExportInput. */
  readonly inPlace?: InPlaceArchive;
}

/**
 * Has the component's recipe write artifact `exportId` into the outbox: the one place
 * that turns a component's config into the recipe's `ExportInput`. What the config
 * names is passed on as it is (a `path` to export, a logical export's `databases`);
 * the recipe decides what it needs.
 */
export async function exportArtifact(input: ExportArtifactInput): Promise<ArtifactManifest> {
  const { config, kind } = input;
  if (kind !== undefined) checkExportKind(input.component, config, kind);
  const databases = kind === 'logical' && 'logical' in config ? config.logical?.databases : undefined;
  return input.recipe.export({
    component: input.component,
    ...(kind === undefined ? {} : { kind }),
    ...(databases === undefined ? {} : { databases }),
    ...(input.instance === undefined ? {} : { instance: input.instance }),
    ...('path' in config ? { path: config.path } : {}),
    ...('physical' in config
      ? {
          ownBackup: config.physical.ownBackup ?? 'where-possible',
          fullReadEveryMs: durationMs(config.physical.fullReadEvery),
        }
      : {}),
    outbox: input.outbox,
    exportId: input.exportId,
    ...(input.signal === undefined ? {} : { signal: input.signal }),
    ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    ...(input.full === undefined ? {} : { full: input.full }),
    ...(input.stateDir === undefined ? {} : { stateDir: input.stateDir }),
    ...(input.newestExportId === undefined ? {} : { newestExportId: input.newestExportId }),
    ...(input.inPlace === undefined ? {} : { inPlace: input.inPlace }),
    onProgress: (progress) => input.onProgress?.(stepProgress('export', progress, progress.object)),
  });
}

/** A config span in ms (months as 30 days, years as 365): schedules need no calendar. */
function durationMs(text: string): number {
  const { years, months, days, hours } = parseDuration(text);
  return ((years * 365 + months * 30 + days) * 24 + hours) * 3600 * 1000;
}
