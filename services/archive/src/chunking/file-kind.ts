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
