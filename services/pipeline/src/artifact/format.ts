import { RecipeError } from '../recipe.js';

/*
 * The artifact a recipe leaves in the outbox for pull-backup. The artifact of export
 * `<id>` is every object under `<id>/` in the outbox:
 *
 *   <id>/<data object>...   one or more tar streams; their members are the snapshot's
 *                           files, relative paths, in one tree shared by all objects
 *                           (an object with a `root` holds the subtree at that path)
 *   <id>/COMPLETE           ArtifactManifest as JSON, written last: the commit point
 *
 * Nothing under `<id>/` means anything until COMPLETE exists, and COMPLETE lists the
 * name, size and BLAKE3 digest of every data object, so pull-backup can refuse an artifact
 * that was truncated or altered in the outbox. A failed export removes what it wrote;
 * removal takes COMPLETE first (`removeArtifact`).
 */

export const ARTIFACT_FORMAT = 'pullback-artifact/1';
export const COMPLETE_OBJECT = 'COMPLETE';
const EXPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * - `physical`: a tree of files restored in place (a data directory, a directory tree).
 * - `logical`: dumps, restored by replaying them into a server (for audits).
 */
export type ArtifactKind = 'physical' | 'logical';

/** One data object of an artifact. */
export interface ArtifactObject {
  /** The full object name in the outbox, `<exportId>/...`. */
  readonly name: string;
  readonly size: number;
  /**
   * BLAKE3 (unkeyed, 32 bytes) of the object's bytes, hex. BLAKE3 rather than SHA-256
   * because the export hashes on the thread that moves the bytes: at ~1.2 GB/s SHA-256
   * held a 1.6 GB base backup back by about 1.5 s; BLAKE3 takes a third of that.
   */
  readonly blake3: string;
  /**
   * The tree path the object's members are under (its tar holds a subtree, e.g. a
   * PostgreSQL tablespace as `pg_tblspc/<oid>`); what other objects have at that path
   * or under it is left out. Default: the root of the tree.
   */
  readonly root?: string;
}

/** Where a database artifact sits in the server's history. */
export interface ServerPosition {
  /** pg_control's system identifier, a 64-bit integer as a decimal string. */
  readonly systemIdentifier: string;
  readonly timeline: number;
  /** The WAL the artifact needs, as PostgreSQL prints LSNs (`0/3000028`). */
  readonly startLsn: string;
  readonly endLsn: string;
  /** `server_version_num`, e.g. 150018. */
  readonly serverVersion: number;
}

/** The `<exportId>/COMPLETE` object. */
export interface ArtifactManifest {
  readonly format: typeof ARTIFACT_FORMAT;
  readonly exportId: string;
  readonly component: string;
  readonly recipe: string;
  readonly kind: ArtifactKind;
  /** The host that ran the export. */
  readonly host: string;
  /** ISO 8601 times. */
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Every data object, in the order it was written. */
  readonly objects: readonly ArtifactObject[];
  /** Database recipes: the server's identity and the WAL range of the artifact. */
  readonly server?: ServerPosition;
  /**
   * Physical database artifacts: each tablespace's OID and the directory it was at;
   * its files are the object whose `root` is `pg_tblspc/<oid>`. Absent: none.
   */
  readonly tablespaces?: Readonly<Record<string, string>>;
  /** Recipe-specific facts, e.g. the databases of a logical export. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The name of export `exportId`'s commit object. */
export function completeName(exportId: string): string {
  return `${exportId}/${COMPLETE_OBJECT}`;
}

export function checkExportId(exportId: string): void {
  if (!EXPORT_ID.test(exportId)) {
    throw new RecipeError(
      `invalid export id ${JSON.stringify(exportId)}: use letters, digits, ".", "_" and "-"`,
      {
        permanent: true,
      },
    );
  }
}
