import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Archive, backupTree, listedStats, type Snapshot, type SourceEntry } from '@pullback/archive';
import { ARTIFACT_FORMAT, type ArtifactKind, type ArtifactManifest } from '../artifact/format.js';
import type { InPlaceArchive, InPlaceFinish, InPlaceText, InPlaceTree } from '../recipe.js';
import { type StepProgressListener, stepProgress } from './progress.js';
import { isSmallWork } from './small-work.js';
import { describeArtifact, snapshotTags } from './snapshot-description.js';
import { claimStaging } from './staging-lock.js';

export interface PullInPlaceInput {
  readonly archive: Archive;
  readonly component: string;
  readonly recipe: string;
  readonly kind: ArtifactKind;
  readonly exportId: string;
  /** See `IngestArtifactInput.stagingDir`: the snapshot's root path is the same as a pull's. */
  readonly stagingDir: string;
  /** The component's newest snapshot of the kind, or null. */
  readonly parent: string | null;
  readonly signal?: AbortSignal;
  readonly onProgress?: StepProgressListener;
  readonly onWarning?: (message: string) => void;
}

/**
 * The pull of the one-shot `pullback backup`, run by its export while the export holds
 * the files consistent (`InPlaceArchive`): the files are read where they lie, once,
 * instead of being written into the outbox and read back. The snapshot is the one the
 * pull of the artifact would make: the same root path, tags and parent, every file
 * read (`force`: no timestamp is trusted) but those the export vouches for
 * (`SourceEntry.changedPages`), small work done on this thread (`InPlaceTree.work`), and a file that vanishes while it
 * is read (a table dropped) left out without a warning, as pg_basebackup does: its
 * removal is in the WAL the snapshot replays. The texts the export writes at the end
 * (backup_label) are staged in the staging directory, which is claimed as a pull's is.
 */
export class PullInPlace implements InPlaceArchive {
  /** The snapshot, once committed. */
  snapshot: Snapshot | undefined;
  /** What COMPLETE would have said, once the export finished. */
  manifest: ArtifactManifest | undefined;
  private readonly startedAt = new Date();

  constructor(private readonly input: PullInPlaceInput) {}

  async archive(tree: InPlaceTree): Promise<void> {
    const { input } = this;
    const staged = join(input.stagingDir, input.component);
    await mkdir(input.stagingDir, { recursive: true, mode: 0o700 });
    const release = await claimStaging(`${staged}.lock`, `pull of ${input.exportId}`);
    try {
      await rm(staged, { recursive: true, force: true });
      await mkdir(staged, { recursive: true, mode: 0o700 });
      const described = (fields: Partial<ArtifactManifest>) =>
        snapshotTags(describeArtifact(this.manifestOf(fields)));
      this.snapshot = await backupTree(input.archive, staged, {
        tags: described({}),
        parent: input.parent,
        force: true,
        ignoreVanished: true,
        ...(tree.work === undefined
          ? {}
          : {
              workers: () => {
                const work = tree.work?.();
                return work !== undefined && isSmallWork(input.archive, work.bytes, work.pages)
                  ? 0
                  : undefined;
              },
            }),
        source: tree.entries,
        ...(tree.pageChecksums === undefined ? {} : { pageChecksums: tree.pageChecksums }),
        late: async () => {
          const finished = await tree.finish();
          this.manifest = this.manifestOf(finished.result);
          return {
            entries: await lateEntries(finished, join(staged, 'texts')),
            tags: described(finished.result),
          };
        },
        ...(input.signal === undefined ? {} : { signal: input.signal }),
        ...(input.onWarning === undefined ? {} : { onWarning: input.onWarning }),
        onProgress: (progress) => input.onProgress?.(stepProgress('ingest', progress, 'archiving in place')),
      });
    } finally {
      await rm(staged, { recursive: true, force: true });
      await release();
    }
  }

  private manifestOf(fields: Partial<ArtifactManifest>): ArtifactManifest {
    const { input } = this;
    return {
      format: ARTIFACT_FORMAT,
      exportId: input.exportId,
      component: input.component,
      recipe: input.recipe,
      kind: input.kind,
      host: hostname(),
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      objects: [],
      ...(fields.server === undefined ? {} : { server: fields.server }),
      ...(fields.tablespaces === undefined ? {} : { tablespaces: fields.tablespaces }),
      ...(fields.details === undefined ? {} : { details: fields.details }),
    };
  }
}

/** The late entries as the archive takes them: each text written to a file of its own in `dir`. */
async function lateEntries(finished: InPlaceFinish, dir: string): Promise<SourceEntry[]> {
  await mkdir(dir, { mode: 0o700 });
  return Promise.all(
    finished.entries.map(async (entry, index) => {
      if (!('text' in entry)) return entry;
      const absolute = join(dir, String(index));
      const bytes = Buffer.from(entry.text, 'utf8');
      await writeFile(absolute, bytes, { mode: 0o600 });
      return inPlaceEntry({ ...entry, type: 'file', absolute, size: bytes.length });
    }),
  );
}

/** What `inPlaceEntry` makes an entry of. */
export interface InPlaceEntryFields extends Omit<InPlaceText, 'text'> {
  readonly type: 'file' | 'directory' | 'symlink';
  readonly absolute: string;
  /** Files: the size when listed (what is there when it is read is taken). */
  readonly size: number;
  readonly target?: string;
}

/**
 * An entry of a tree archived in place, from what a listing of it gave. Its ctime is
 * now, as for an artifact's members: nothing is ever taken as unchanged on timestamps.
 */
export function inPlaceEntry(fields: InPlaceEntryFields): SourceEntry {
  return {
    path: fields.path,
    absolute: fields.absolute,
    stats: listedStats({
      ...fields,
      mtimeNs: BigInt(Math.round(fields.mtimeMs * 1000)) * 1000n,
      ctimeNs: BigInt(Date.now()) * 1_000_000n,
    }),
    ...(fields.target === undefined ? {} : { target: fields.target }),
  };
}
