import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, backupTree, type Snapshot } from '@pullback/archive';
import type { ArtifactManifest, Outbox } from '../recipe.js';
import { extractArtifact } from './extract-artifact.js';
import type { StepProgressListener } from './progress.js';
import { claimStaging } from './staging-lock.js';

export interface IngestArtifactInput {
  readonly archive: Archive;
  readonly outbox: Outbox;
  /** The artifact's COMPLETE. */
  readonly manifest: ArtifactManifest;
  /**
   * A directory on the archive keeper with room for one artifact's files. Each
   * component's artifacts are staged in `<stagingDir>/<component>`, removed
   * afterwards: the same path every time, because the archive groups a component's
   * snapshots by source path (parents, retention). Use the same on every pull worker.
   */
  readonly stagingDir: string;
  readonly tags: Readonly<Record<string, string>>;
  /** The snapshot to compare with, or null for none. */
  readonly parent: string | null;
  /** How long to wait for an exclusive archive lock (a prune) to go, in ms. Default: 300 000. */
  readonly lockWaitMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
}

/**
 * Turns a complete artifact into a snapshot: the one place that knows how. For now
 * it extracts the artifact's tar objects into a staging directory, checked against
 * COMPLETE as they stream, then backs that tree up with `backupTree` under a shared
 * archive lock. An archive that ingests tar streams directly replaces the body of
 * this function, and nothing else. Pulls of one component on one machine take
 * turns (the staging directory is claimed with a lock file).
 *
 * The snapshot commits last (the archive's manifest); failing or aborted at any
 * point, it leaves no snapshot and no staged files.
 */
export async function ingestArtifact(input: IngestArtifactInput): Promise<Snapshot> {
  const { manifest, signal } = input;
  const staged = join(input.stagingDir, manifest.component);
  await mkdir(input.stagingDir, { recursive: true, mode: 0o700 });
  const release = await claimStaging(`${staged}.lock`, `pull of ${manifest.exportId}`);
  try {
    // Leftovers of an attempt that died (a killed worker) are replaced, never reused.
    await rm(staged, { recursive: true, force: true });
    await extractArtifact(input.outbox, manifest, staged, {
      ...(signal === undefined ? {} : { signal }),
      onProgress: (bytesDone, bytesTotal) =>
        input.onProgress?.({ stage: 'ingest', bytesDone, bytesTotal, detail: 'staging' }),
    });
    // backupTree holds a shared archive lock itself (prune waits for it).
    return await backupTree(input.archive, staged, {
      tags: input.tags,
      parent: input.parent,
      lockWaitMs: input.lockWaitMs ?? 300_000,
      ...(signal === undefined ? {} : { signal }),
      onProgress: (progress) =>
        input.onProgress?.({
          stage: 'ingest',
          bytesDone: progress.bytesDone,
          ...(progress.bytesTotal === undefined ? {} : { bytesTotal: progress.bytesTotal }),
          filesDone: progress.filesDone,
          detail: 'archiving',
        }),
    });
  } finally {
    await rm(staged, { recursive: true, force: true });
    await release();
  }
}
