import { isAbsolute, join, resolve } from 'node:path';

/**
 * A physical snapshot's tablespaces: OID (decimal string) to the directory the
 * tablespace was at on the exported server. The snapshot holds each one's files under
 * `pg_tblspc/<oid>/` (a directory where the server has a symlink), and this map in its
 * `tablespaces` tag (docs/repository-format.md § 6.1).
 */
export type TablespaceLocations = Readonly<Record<string, string>>;

/** Where a snapshot's tree holds tablespace `oid`. */
export function tablespaceRoot(oid: string): string {
  return `pg_tblspc/${oid}`;
}

/** Whether `locations` is what a `tablespaces` tag may hold: OIDs to absolute paths. */
export function isTablespaceLocations(value: unknown): value is TablespaceLocations {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(
    ([oid, location]) => /^[1-9]\d{0,9}$/.test(oid) && typeof location === 'string' && isAbsolute(location),
  );
}

/**
 * Remappings of tablespace locations, old to new, as `--tablespace-map OLD=NEW` (as
 * `pg_basebackup -T` and pgBackRest take them) and a fallback's `tablespaces` config
 * give them: both absolute, compared normalized.
 */
export type TablespaceMap = ReadonlyMap<string, string>;

/** `OLD=NEW` arguments as a map; a malformed or repeated one fails with one line naming it. */
export function parseTablespaceMap(pairs: readonly string[]): TablespaceMap {
  const map = new Map<string, string>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const from = at < 0 ? '' : pair.slice(0, at);
    const to = at < 0 ? '' : pair.slice(at + 1);
    if (!isAbsolute(from) || !isAbsolute(to)) {
      throw new Error(
        `invalid tablespace mapping ${JSON.stringify(pair)}: expected OLD=NEW, both absolute paths`,
      );
    }
    const old = resolve(from);
    if (map.has(old)) throw new Error(`tablespace location ${old} is mapped twice`);
    map.set(old, resolve(to));
  }
  return map;
}

/** The map a config object `{ OLD: NEW }` gives (`instance.tablespaces`). */
export function tablespaceMapOf(config: Readonly<Record<string, string>> | undefined): TablespaceMap {
  return new Map(Object.entries(config ?? {}).map(([from, to]) => [resolve(from), resolve(to)]));
}

/** A map that puts every tablespace of `locations` under `dir`, as `<dir>/<oid>` (scratch restores: drills). */
export function tablespacesUnder(locations: TablespaceLocations, dir: string): TablespaceMap {
  return new Map(Object.entries(locations).map(([oid, location]) => [resolve(location), join(dir, oid)]));
}
