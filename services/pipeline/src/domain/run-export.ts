import type { ArtifactKind, ArtifactManifest } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import { removeArtifact } from '../artifact/remove.js';
import type { ComponentConfig } from '../config/schema.js';
import type { PullJob } from '../queues/job-contracts.js';
import type { Recipe } from '../recipe.js';
import { CORRUPT_PAGES_KEPT, type ExportRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { corruptPagesOf } from './corrupt-pages.js';
import { messageOf, PipelineError } from './errors.js';
import { exportArtifact } from './export-artifact.js';
import { holdLock } from './hold-lock.js';
import { instanceLocation } from './instance-location.js';
import type { StepProgressListener } from './progress.js';

export interface RunExportInput {
  /** Read everything (`export --full`). Default: false. */
  readonly full?: boolean;
  /** This machine's state directory (the recipe's record of the previous export). */
  readonly stateDir?: string;
  readonly component: string;
  readonly config: ComponentConfig;
  readonly recipe: Recipe;
  /** The component's outbox, opened (`openBackend(config.outbox)`). */
  readonly outbox: Outbox;
  readonly exportId: string;
  /** Default: physical. */
  readonly kind?: ArtifactKind;
  /** The job's epoch. */
  readonly epoch: number;
  readonly registry: Registry;
  /**
   * The instances this agent runs next to: the export runs only when the
   * component's live active is one of them, else it fails with `not-active-here`.
   * Default: undefined, any active (one agent for everything, `pullback up`).
   */
  readonly localInstances?: readonly string[];
  /** Enqueues the pull of the finished artifact. */
  readonly enqueuePull: (job: PullJob) => Promise<void>;
  /** The export lock's TTL in ms; renewed every third of it. Default: 60 000. */
  readonly lockTtlMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
}

export interface RunExportResult {
  readonly exportId: string;
  readonly manifest: ArtifactManifest;
  /** The instance exported, when the component has one. */
  readonly instance?: string;
}

const DEFAULT_LOCK_TTL_MS = 60_000;

/**
 * One export: checks the epoch and that the component's active is here, takes the
 * component's export lock (so a scheduled export and `--now` never run at once,
 * from any number of agents), has the recipe write the artifact into the outbox,
 * checks the epoch again, enqueues the pull and records the outcome. The export
 * never touches the archive.
 *
 * Idempotent per export id: a retried job finds its complete artifact, or the
 * recipe replaces a partial one. Fails with `busy` while another export of
 * the component runs, and `stale-epoch` when the job's epoch is not current, before
 * or after exporting (an activation during the export); then the artifact is
 * removed, as a stale one must never become a snapshot.
 */
export async function runExport(input: RunExportInput): Promise<RunExportResult> {
  const { component, config, registry, exportId, epoch } = input;
  const what = `export ${exportId} of ${component}`;
  await registry.assertEpoch(component, epoch, what);
  const record = await registry.requireComponent(component);
  const active = record.active;
  if (active === undefined && config.instances.length > 0) {
    throw new PipelineError('not-active-here', `${what}: the component has no active instance`);
  }
  if (active !== undefined && input.localInstances !== undefined && !input.localInstances.includes(active)) {
    throw new PipelineError('not-active-here', `${what}: the active ${active} is not served by this agent`);
  }
  const instance = active === undefined ? undefined : instanceLocation(config, active);
  if (active !== undefined && instance === undefined) {
    throw new PipelineError('unknown-component', `${what}: the active ${active} is not in the config`);
  }

  return holdLock(
    registry,
    `export.${component}`,
    {
      ttlMs: input.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
      what,
      ...(input.signal ? { signal: input.signal } : {}),
    },
    async (signal) => {
      const startedAt = new Date().toISOString();
      const outcome = (ok: boolean, extra: { reason?: string; bytes?: number }) => ({
        exportId,
        ...(input.kind === undefined ? {} : { kind: input.kind }),
        ...(active === undefined ? {} : { instance: active }),
        startedAt,
        finishedAt: new Date().toISOString(),
        ok,
        ...extra,
      });
      try {
        const manifest = await exportArtifact({
          component,
          config,
          recipe: input.recipe,
          ...(instance === undefined ? {} : { instance }),
          outbox: input.outbox,
          exportId,
          ...(input.kind === undefined ? {} : { kind: input.kind }),
          signal,
          ...(input.full === undefined ? {} : { full: input.full }),
          ...(input.stateDir === undefined ? {} : { stateDir: input.stateDir }),
          // The registry's newest snapshot: an incremental export builds only on it.
          newestExportId: record.lastSnapshot?.exportId ?? null,
          ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
          ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
        });
        const now = await registry.checkEpoch(component, epoch);
        if (!now.ok) {
          await removeArtifact(input.outbox, exportId);
          throw new PipelineError(
            'stale-epoch',
            `${what}: epoch ${epoch} of ${component} became stale during the export (now ${now.current}); artifact removed`,
          );
        }
        await input.enqueuePull({ component, epoch, exportId, outbox: config.outbox });
        const bytes = manifest.objects.reduce((sum, object) => sum + object.size, 0);
        await registry.recordExport(component, epoch, {
          ...outcome(true, { bytes }),
          ...keptCorruptPages(manifest),
        });
        return { exportId, manifest, ...(active === undefined ? {} : { instance: active }) };
      } catch (error) {
        const reason = messageOf(signal.aborted && !input.signal?.aborted ? signal.reason : error);
        await registry.recordExport(component, epoch, outcome(false, { reason })).catch(() => {});
        throw error;
      }
    },
  );
}

/** The corrupt pages an artifact's COMPLETE reports, as the registry keeps them (the first few, and the count). */
function keptCorruptPages(
  manifest: ArtifactManifest,
): Pick<ExportRecord, 'corruptPages' | 'corruptPageCount'> {
  const pages = corruptPagesOf(manifest);
  if (pages.length === 0) return {};
  return { corruptPages: pages.slice(0, CORRUPT_PAGES_KEPT), corruptPageCount: pages.length };
}
