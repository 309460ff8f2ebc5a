import { CorruptDataError } from '../errors.js';

/** A file of the snapshot that a restore left out because a blob of it is damaged or missing. */
export interface DamagedFile {
  /** The file's path in the snapshot. */
  readonly path: string;
  /** Why its data could not be restored (the first blob that failed). */
  readonly reason: string;
}

/**
 * Thrown by a restore that refused damaged data: everything else was restored, with its
 * metadata, and the damaged files were removed from the target (a file with a hole of
 * zeros where its data should be must not pass for a restored one).
 */
export class DamagedRestoreError extends CorruptDataError {
  constructor(
    readonly snapshot: string,
    /** Files restored whole. */
    readonly filesRestored: number,
    readonly damaged: readonly DamagedFile[],
    /** What explains the damage best, when it is more than the first file's reason (a lost pack). */
    cause?: { readonly message: string; readonly hint: string },
  ) {
    const short = snapshot.slice(0, 12);
    const first = damaged[0];
    super(
      `snapshot ${short}: ${filesRestored} files restored, ${damaged.length} damaged files not restored; ${cause?.message ?? `first: file ${first?.path}: ${first?.reason}`}`,
      { hint: cause?.hint ?? 'the archive is damaged; run `pullback verify --read-data`' },
    );
  }
}

/** Another name (hard link) of a restored file: it goes when the file does. */
interface LinkName {
  readonly path: string;
  readonly absolute: string;
}

/** The files of a restore whose data failed, by path in the snapshot. */
export class DamageLedger {
  private readonly files = new Map<string, string>();
  /** Hard links by the absolute path of the file they name (few: kept whole). */
  private readonly links = new Map<string, LinkName[]>();

  /** Records that `path` (at `absolute`) is another name of the file at `targetAbsolute`. */
  addLink(targetAbsolute: string, path: string, absolute: string): void {
    const names = this.links.get(targetAbsolute) ?? [];
    names.push({ path, absolute });
    this.links.set(targetAbsolute, names);
  }

  /** The other names of the file at `absolute`. */
  linksOf(absolute: string): readonly LinkName[] {
    return this.links.get(absolute) ?? [];
  }

  /** Records `reason` for `path`, unless an earlier failure of it is recorded already. */
  add(path: string, reason: string): void {
    if (!this.files.has(path)) this.files.set(path, reason);
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  get size(): number {
    return this.files.size;
  }

  /** Sorted by path, so the report reads like a listing of the tree. */
  list(): DamagedFile[] {
    return [...this.files]
      .map(([path, reason]) => ({ path, reason }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}
