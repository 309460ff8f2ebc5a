import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Archive, backupTree, isArchiveError, type Snapshot, type SourceEntry } from '@pullback/archive';
import { corruptArtifact } from '../artifact/check.js';
import type { ArtifactManifest } from '../artifact/format.js';
import type { Outbox } from '../artifact/outbox.js';
import { localTars } from '../artifact/reader.js';
import { artifactTree } from '../artifact/tree.js';
import { completeIncremental } from './complete-incremental.js';
import { PipelineError } from './errors.js';
import { type StepProgressListener, stepProgress } from './progress.js';
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
  /**
   * An incremental artifact's parent (checked by the caller to be the export it names):
   * the snapshot it is completed against (`completeIncremental`).
   */
  readonly incrementalParent?: Snapshot;
  /** How long to wait for an exclusive archive lock (a prune) to go, in ms. Default: 300 000. */
  readonly lockWaitMs?: number;
  /** Worker threads of the backup (0: on this thread, cheapest for tiny artifacts). Default: `backupTree`'s. */
  readonly workers?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  /** Told of each entry left out of the artifact or snapshot (the path and why). Default: ignore. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Turns a complete artifact into a snapshot: the one place that knows how. The
 * artifact's tars are archived in place, their members read as slices of the tar
 * (see `artifactTree`): nothing is unpacked. A tar in a directory outbox is read where
 * it is; one in S3 is first downloaded into the staging directory. Each tar's size and
 * BLAKE3 digest are checked against COMPLETE (while it downloads, or alongside the
 * backup) before the snapshot commits; a mismatch, or a member that could not be
 * unpacked safely, fails with `corrupt-artifact`. Pulls of one component on one
 * machine take turns (the staging directory is claimed with a lock file).
 *
 * The snapshot commits last (the archive's manifest); failing or aborted at any
 * point, it leaves no snapshot and no staged files.
 */
export async function ingestArtifact(input: IngestArtifactInput): Promise<Snapshot> {
  const { manifest } = input;
  // The tree's root path names the component's snapshots (parents, retention).
  const staged = join(input.stagingDir, manifest.component);
  await mkdir(input.stagingDir, { recursive: true, mode: 0o700 });
  const release = await claimStaging(`${staged}.lock`, `pull of ${manifest.exportId}`);
  // A digest found wrong while the backup runs stops it at once.
  const stop = new AbortController();
  const signal = input.signal === undefined ? stop.signal : AbortSignal.any([input.signal, stop.signal]);
  let verified: Promise<void> = Promise.resolve();
  try {
    // Leftovers of an attempt that died (a killed worker) are replaced, never reused.
    await rm(staged, { recursive: true, force: true });
    await mkdir(staged, { recursive: true, mode: 0o700 });
    const local = await localTars(input.outbox, manifest, staged, signal, (bytesDone, bytesTotal) =>
      input.onProgress?.({ stage: 'ingest', bytesDone, bytesTotal, detail: 'staging' }),
    );
    verified = local.verified;
    verified.catch((error: unknown) => stop.abort(error));
    const entries = await artifactTree(manifest, local.tars, signal);
    const parentSnapshot = input.incrementalParent;
    const workDir = join(staged, '.incremental');
    if (parentSnapshot !== undefined) await mkdir(workDir, { mode: 0o700 });
    let completed: Promise<SourceEntry[]> | undefined;
    // backupTree holds a shared archive lock itself (prune waits for it).
    return await backupTree(input.archive, staged, {
      tags: input.tags,
      parent: input.parent,
      lockWaitMs: input.lockWaitMs ?? 300_000,
      ...(input.workers === undefined ? {} : { workers: input.workers }),
      signal,
      source:
        parentSnapshot === undefined
          ? async function* () {
              yield* entries;
            }
          : async function* () {
              // backupTree asks for its source once per pass: the files are laid once.
              completed ??= completeIncremental(
                input.archive,
                manifest,
                entries,
                parentSnapshot,
                workDir,
                signal,
              );
              yield* await completed;
            },
      beforeCommit: () => verified,
      ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
      onProgress: (progress) => input.onProgress?.(stepProgress('ingest', progress, 'archiving')),
    });
  } catch (error) {
    // A wrong digest explains whatever else failed: a tar that does not parse, an
    // abort it caused.
    const digest = await verified.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    if (digest instanceof PipelineError) throw digest;
    // The backup's own check of what no restore could take (artifactTree refuses it first).
    if (isArchiveError(error, 'unsafe-path')) throw corruptArtifact(manifest, error.message);
    throw error;
  } finally {
    await rm(staged, { recursive: true, force: true });
    await release();
  }
}
