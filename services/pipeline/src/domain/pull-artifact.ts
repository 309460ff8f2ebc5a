import { type Archive, listSnapshots, type RetentionPolicy, type Snapshot } from '@pullback/archive';
import type { ArtifactKind, ArtifactManifest } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import { readArtifactManifest } from '../artifact/reader.js';
import { removeArtifact } from '../artifact/remove.js';
import type { ComponentConfig } from '../config/schema.js';
import type { ImportJob } from '../queues/job-contracts.js';
import type { Registry } from '../registry/registry.js';
import { incrementalParentOf, staleParent } from './complete-incremental.js';
import { applyComponentRetention } from './component-retention.js';
import { PipelineError } from './errors.js';
import { ingestArtifact } from './ingest-artifact.js';
import type { StepProgressListener } from './progress.js';
import { isSmallWork } from './small-work.js';
import { describeArtifact, describeSnapshot, snapshotTags } from './snapshot-description.js';

/**
 * Forgets the snapshots of `component` that `policy` does not keep (the archive's
 * `forgetSnapshots`); prune reclaims their data later.
 */
export type ForgetSnapshots = (
  archive: Archive,
  options: {
    policy: RetentionPolicy;
    component: string;
    splitBy: (snapshot: Snapshot) => string;
    signal?: AbortSignal;
  },
) => Promise<{ readonly forgotten: readonly { readonly id: string }[] }>;

export interface PullArtifactInput {
  readonly component: string;
  readonly config: ComponentConfig;
  readonly exportId: string;
  /** The job's epoch. */
  readonly epoch: number;
  readonly outbox: Outbox;
  readonly archive: Archive;
  /** See `IngestArtifactInput.stagingDir`. */
  readonly stagingDir: string;
  /**
   * The registry: the epoch is checked, the snapshot recorded and imports queued.
   * Undefined for a one-shot backup without Redis (`pullback backup <component>`).
   */
  readonly registry?: Registry;
  /** Enqueues one import (with `registry`). */
  readonly enqueueImport?: (job: ImportJob) => Promise<void>;
  /** The kinds restored onto fallbacks (the recipe's `importKinds`). Default: physical. */
  readonly importKinds?: readonly ArtifactKind[];
  /**
   * Applies the component's retention. Default: none; then the plan is computed
   * (`applyRetention`) and returned, and nothing is removed. Prune is never run here.
   */
  readonly forget?: ForgetSnapshots;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
}

export interface PullArtifactResult {
  readonly snapshot: Snapshot;
  /** True when the snapshot was already committed (a retried pull). */
  readonly reused: boolean;
  /** The fallbacks an import was queued for. */
  readonly imports: readonly string[];
  /** Snapshots of the component the retention policy lets go. */
  readonly expired: readonly string[];
  /** Whether they were forgotten (false: no forget available, or nothing to forget). */
  readonly forgotten: boolean;
}

/**
 * The pull-backup step: ingests artifact `exportId` from the outbox into the
 * archive as a snapshot of the component, tagged with what the artifact says
 * (component, recipe, kind, epoch, export id, and for databases the system
 * identifier, timeline and LSNs), its parent the component's latest snapshot of the
 * same kind. Only once the snapshot is committed is the artifact removed from the
 * outbox; then the component's retention is applied (to the snapshot's kind, each
 * kind kept on its own) and one import per fallback is
 * queued (supersession: a fallback with a newer snapshot queued gets none).
 *
 * Idempotent: a retried pull that finds the snapshot of its export id committed
 * reuses it and finishes the rest. A corrupted or incomplete artifact fails with a
 * permanent error and is never archived.
 */
export async function pullArtifact(input: PullArtifactInput): Promise<PullArtifactResult> {
  const { component, exportId, epoch, archive, registry, signal } = input;
  const what = `pull of ${exportId} of ${component}`;
  await registry?.assertEpoch(component, epoch, what);

  const snapshots = await listSnapshots(archive, { component, ...(signal ? { signal } : {}) });
  let snapshot = snapshots.find((candidate) => describeSnapshot(candidate).exportId === exportId);
  const reused = snapshot !== undefined;
  if (snapshot === undefined) {
    const manifest = await readArtifactManifest(input.outbox, exportId, signal);
    if (manifest === undefined) {
      throw new PipelineError(
        'incomplete-artifact',
        `${what}: ${input.outbox.location} has no complete artifact ${exportId}`,
        { hint: 'the export did not finish, or the artifact was removed; run a new export' },
      );
    }
    if (manifest.component !== component) {
      throw new PipelineError(
        'corrupt-artifact',
        `${what}: artifact ${exportId} in ${input.outbox.location} belongs to ${manifest.component}`,
      );
    }
    const parent = snapshots.filter((candidate) => describeSnapshot(candidate).kind === manifest.kind).at(-1);
    const incrementalParent = incrementalParentOf(manifest);
    if (incrementalParent !== undefined) checkIncrementalParent(manifest, parent);
    snapshot = await ingestArtifact({
      archive,
      outbox: input.outbox,
      manifest,
      stagingDir: input.stagingDir,
      // Without a registry (a one-shot backup) there is no epoch to record.
      tags: snapshotTags(describeArtifact(manifest, registry === undefined ? undefined : epoch)),
      parent: parent?.id ?? null,
      ...(incrementalParent === undefined || parent === undefined ? {} : { incrementalParent: parent }),
      ...(isSmall(manifest, archive) ? { workers: 0 } : {}),
      ...(signal === undefined ? {} : { signal }),
      ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
      ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
    });
    snapshots.push(snapshot);
  }
  // Committed: the staged artifact is no longer the only copy.
  await removeArtifact(input.outbox, exportId, signal);

  const { expired, forgotten } = await applyComponentRetention({
    archive,
    component,
    config: input.config,
    snapshots,
    snapshot,
    ...(input.forget === undefined ? {} : { forget: input.forget }),
    ...(signal === undefined ? {} : { signal }),
  });

  const imports: string[] = [];
  if (registry !== undefined) {
    const { kind } = describeSnapshot(snapshot);
    await registry.recordSnapshot(component, epoch, {
      id: snapshot.id,
      kind,
      time: snapshot.time,
      exportId,
      logicalBytes: snapshot.stats.logicalBytes,
      newBytesStored: snapshot.stats.newBytesStored,
    });
    if (input.enqueueImport !== undefined && (input.importKinds ?? ['physical']).includes(kind)) {
      // A stale pull must not push its snapshot onto fallbacks of the new epoch.
      await registry.assertEpoch(component, epoch, what);
      for (const fallback of await registry.fallbacks(component)) {
        if (!(await registry.queueSnapshot(fallback.name, snapshot.id, snapshot.time))) continue;
        await input.enqueueImport({ component, instance: fallback.name, epoch, snapshotId: snapshot.id });
        imports.push(fallback.name);
      }
    }
  }
  return {
    snapshot,
    reused,
    imports,
    expired,
    forgotten,
  };
}

/** Whether the artifact is small work (`isSmallWork`): its bytes, and for an incremental one its new pages. */
function isSmall(manifest: ArtifactManifest, archive: Archive): boolean {
  const bytes = manifest.objects.reduce((sum, object) => sum + object.size, 0);
  const incremental = manifest.details?.incremental as { pages?: unknown } | undefined;
  const pages = typeof incremental?.pages === 'number' ? incremental.pages : 0;
  return isSmallWork(archive, bytes, pages);
}

/**
 * An incremental artifact is completed only against the export it names, when that is
 * the newest snapshot of its kind of the component, of the same server lineage: a
 * missing parent, a newer snapshot, or another system fails with `stale-parent`, and
 * the export is taken again in full (never a wrong snapshot).
 */
function checkIncrementalParent(manifest: ArtifactManifest, newest: Snapshot | undefined): void {
  if (newest === undefined) throw staleParent(manifest, 'and the component has no snapshot of its kind');
  const described = describeSnapshot(newest);
  if (described.exportId !== incrementalParentOf(manifest)) {
    throw staleParent(
      manifest,
      `but the newest snapshot ${newest.id.slice(0, 12)} is of export ${described.exportId}`,
    );
  }
  const system = described.server?.systemIdentifier;
  if (system !== manifest.server?.systemIdentifier) {
    throw staleParent(
      manifest,
      `whose snapshot is of system ${system}, the artifact of ${manifest.server?.systemIdentifier}`,
    );
  }
}
