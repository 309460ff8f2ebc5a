import type { ArtifactKind, ArtifactManifest } from '../artifact/format.js';
import { isTablespaceLocations, type TablespaceLocations } from '../tablespaces/tablespace-locations.js';
import { PipelineError } from './errors.js';

/**
 * What the pipeline records about a snapshot, typed: the archive keeps it as the
 * snapshot's string tags (docs/repository-format.md § 6.1), written by `snapshotTags`
 * and read back by `describeSnapshot` only, so that no reader guesses at a tag.
 */
export interface SnapshotDescription {
  /** The component it is of; the archive's listings filter on it. */
  readonly component?: string;
  /** The recipe that exported it (`postgres`, `files`). */
  readonly recipe?: string;
  /** How it is restored: a tree of files in place, or dumps replayed into a server. */
  readonly kind: ArtifactKind;
  /** The export it was pulled from; a retried pull finds its snapshot by it. */
  readonly exportId?: string;
  /** The epoch of the pull that made it; absent for a backup run without Redis. */
  readonly epoch?: number;
  /** Database snapshots: the server's identity and the WAL range the snapshot needs. */
  readonly server?: {
    readonly systemIdentifier: string;
    readonly timeline: number;
    readonly startLsn: string;
    readonly endLsn: string;
  };
  /** A physical database snapshot's tablespaces and where they were (none: no key). */
  readonly tablespaces?: TablespaceLocations;
}

/** A directory tree is restored in place: the kind of every files snapshot. */
export const FILES_KIND: ArtifactKind = 'physical';

/**
 * Kind tags as they were written, and what they mean now. No tag and `files` (what
 * `backup files` wrote before both files paths agreed on `physical`) are trees restored
 * in place.
 */
const KINDS: Readonly<Record<string, ArtifactKind>> = {
  physical: 'physical',
  logical: 'logical',
  files: 'physical',
};

/** The description of an artifact's snapshot; `epoch` when a registry took part. */
export function describeArtifact(manifest: ArtifactManifest, epoch?: number): SnapshotDescription {
  const { server, tablespaces } = manifest;
  return {
    component: manifest.component,
    recipe: manifest.recipe,
    kind: manifest.kind,
    exportId: manifest.exportId,
    ...(epoch === undefined ? {} : { epoch }),
    ...(server === undefined
      ? {}
      : {
          server: {
            systemIdentifier: server.systemIdentifier,
            timeline: server.timeline,
            startLsn: server.startLsn,
            endLsn: server.endLsn,
          },
        }),
    ...(tablespaces === undefined || Object.keys(tablespaces).length === 0 ? {} : { tablespaces }),
  };
}

/** The tags that record `description` in the archive: what `snapshots` filters on and the election reads. */
export function snapshotTags(description: SnapshotDescription): Record<string, string> {
  const { server } = description;
  return {
    ...(description.component === undefined ? {} : { component: description.component }),
    ...(description.recipe === undefined ? {} : { recipe: description.recipe }),
    kind: description.kind,
    ...(description.exportId === undefined ? {} : { exportId: description.exportId }),
    ...(description.epoch === undefined ? {} : { epoch: String(description.epoch) }),
    ...(server === undefined
      ? {}
      : {
          systemIdentifier: server.systemIdentifier,
          timeline: String(server.timeline),
          startLsn: server.startLsn,
          endLsn: server.endLsn,
        }),
    ...(description.tablespaces === undefined
      ? {}
      : { tablespaces: JSON.stringify(description.tablespaces) }),
  };
}

/** A snapshot's tablespaces (its `tablespaces` tag), none when it has no such tag. */
export function snapshotTablespaces(snapshot: {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
}): TablespaceLocations {
  const tag = snapshot.tags.tablespaces;
  if (tag === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(tag);
  } catch {}
  if (!isTablespaceLocations(parsed)) {
    throw new PipelineError(
      'invalid-snapshot',
      `snapshot ${snapshot.id.slice(0, 12)} has tag tablespaces=${JSON.stringify(tag)}: expected JSON of tablespace OIDs to absolute paths`,
    );
  }
  return parsed;
}

/**
 * The kind retention counts a snapshot among (`forgetSnapshots`' `splitBy`): each kind
 * is kept on its own. A snapshot whose kind tag no writer produces is a part of its own,
 * so that forget never fails on it nor counts it against either kind.
 */
export function retentionKindOf(snapshot: {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
}): string {
  const kind = snapshot.tags.kind ?? 'physical';
  return Object.hasOwn(KINDS, kind) ? KINDS[kind]! : `unknown:${kind}`;
}

/**
 * Reads a snapshot's tags back into its description. A kind or a number no writer
 * of this format produces fails with `invalid-snapshot`, naming the snapshot and the
 * tag: guessing what such a snapshot is could restore it the wrong way.
 */
export function describeSnapshot(snapshot: {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
}): SnapshotDescription {
  const { tags } = snapshot;
  const invalid = (tag: string, expected: string) =>
    new PipelineError(
      'invalid-snapshot',
      `snapshot ${snapshot.id.slice(0, 12)} has tag ${tag}=${JSON.stringify(tags[tag])}: expected ${expected}`,
      {
        hint: 'the snapshot was not written by this version of pullback; restore it with `pullback restore`',
      },
    );
  const kindTag = tags.kind ?? 'physical';
  if (!Object.hasOwn(KINDS, kindTag)) throw invalid('kind', 'physical or logical');
  const kind = KINDS[kindTag]!;
  const count = (tag: string): number | undefined => {
    const text = tags[tag];
    if (text === undefined) return undefined;
    if (!/^\d{1,15}$/.test(text)) throw invalid(tag, 'a whole number');
    return Number(text);
  };
  const epoch = count('epoch');
  const timeline = count('timeline');
  const { systemIdentifier, startLsn, endLsn } = tags;
  const server =
    systemIdentifier === undefined || timeline === undefined || startLsn === undefined || endLsn === undefined
      ? undefined
      : { systemIdentifier, timeline, startLsn, endLsn };
  const tablespaces = tags.tablespaces === undefined ? undefined : snapshotTablespaces(snapshot);
  return {
    ...(tags.component === undefined ? {} : { component: tags.component }),
    ...(tags.recipe === undefined ? {} : { recipe: tags.recipe }),
    kind,
    ...(tags.exportId === undefined ? {} : { exportId: tags.exportId }),
    ...(epoch === undefined ? {} : { epoch }),
    ...(server === undefined ? {} : { server }),
    ...(tablespaces === undefined ? {} : { tablespaces }),
  };
}
