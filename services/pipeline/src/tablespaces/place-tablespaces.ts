import { lstat, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Relocations } from '@pullback/archive';
import { type TablespaceLocations, type TablespaceMap, tablespaceRoot } from './tablespace-locations.js';

/** Where a restore puts a snapshot's tablespaces. */
export interface TablespacePlacement {
  /** For `restoreSnapshot`'s `relocate`: each tablespace's tree path to its directory. */
  readonly relocate: Relocations;
  /** OID to the directory it is restored at. */
  readonly locations: TablespaceLocations;
}

/**
 * Each tablespace of a snapshot at its original location, or where `map` moves it.
 * Two tablespaces at one directory fail with one line: they would overwrite each other.
 */
export function placeTablespaces(
  snapshotLocations: TablespaceLocations,
  map: TablespaceMap = new Map(),
): TablespacePlacement {
  const relocate: Record<string, string> = {};
  const locations: Record<string, string> = {};
  const taken = new Map<string, string>();
  for (const [oid, original] of Object.entries(snapshotLocations)) {
    const location = resolve(map.get(resolve(original)) ?? original);
    const other = taken.get(location);
    if (other !== undefined) {
      throw new Error(`tablespaces ${other} and ${oid} would both be restored at ${location}`);
    }
    taken.set(location, oid);
    relocate[tablespaceRoot(oid)] = location;
    locations[oid] = location;
  }
  return { relocate, locations };
}

/**
 * After the archive restored a snapshot with `placement.relocate` into `target` (a data
 * directory): points `pg_tblspc/<oid>` at each tablespace's directory, as the server
 * had it, replacing what stands there (an earlier restore's link). A `tablespace_map`
 * (which the server would follow at startup instead) is rewritten to the same places.
 */
export async function linkTablespaces(target: string, placement: TablespacePlacement): Promise<void> {
  const entries = Object.entries(placement.locations);
  for (const [oid, location] of entries) {
    const link = join(target, tablespaceRoot(oid));
    if ((await readlink(link).catch(() => undefined)) === location) continue;
    await rm(link, { recursive: true, force: true });
    await symlink(location, link);
  }
  const map = join(target, 'tablespace_map');
  if (await lstat(map).catch(() => undefined)) {
    await writeFile(map, entries.map(([oid, location]) => `${oid} ${location}\n`).join(''));
  }
}
