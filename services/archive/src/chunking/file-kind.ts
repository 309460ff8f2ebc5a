/**
 * PostgreSQL relation segments (`base/<db>/<relfilenode>[_fsm|_vm|_init][.<segno>]`,
 * `global/…`, `pg_tblspc/<oid>/<version>/<db>/…`), at any depth so that a backup root
 * above the data directory still finds them. Their pages are updated in place, so they
 * are cut at fixed page offsets rather than by content.
 */
const RELATION_PATH = /(?:^|\/)(?:base|global|pg_tblspc)\/(?:[^/]+\/)*\d+(?:_(?:fsm|vm|init))?(?:\.\d+)?$/;

export function isRelationPath(relativePath: string): boolean {
  return RELATION_PATH.test(relativePath);
}

/** The segment number of a relation file (`.1` is 1, none is 0), or undefined for another file. */
export function relationSegment(relativePath: string): number | undefined {
  if (!isRelationPath(relativePath)) return undefined;
  const suffix = /\.(\d+)$/.exec(relativePath);
  return suffix === null ? 0 : Number(suffix[1]);
}

/** A WAL segment (`pg_wal/<timeline><log><seg>`, 24 hex digits) at any depth. */
const WAL_SEGMENT_PATH = /(?:^|\/)pg_wal\/[0-9A-F]{24}$/;

/**
 * Whether a file is stored by pages (at fixed offsets: `storePagedFile`) rather than
 * cut by content: relation segments, and WAL segments, whose bytes never move either
 * (a record's place in its segment is its LSN's; a recycled segment keeps its old
 * bytes where they were until they are overwritten), so fixed superblocks find every
 * repeat that content-defined chunks would, at a fraction of the cost (a 16 MiB
 * segment took 60 ms to cut, the larger part of a backup that found nothing changed).
 */
export function isStoredByPages(relativePath: string): boolean {
  return isRelationPath(relativePath) || WAL_SEGMENT_PATH.test(relativePath);
}
