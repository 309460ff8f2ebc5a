import { isNotFound } from '@pullback/storage';
import { packName } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import { type BlobLocation, idKey } from './blob-location.js';
import type { IndexObject } from './index-file.js';

/**
 * One location per blob, from opened index objects. A blob listed in several packs
 * (two backups stored it at once, or a backup stored it again because its pack was
 * lost) gets a copy whose pack exists: the packs of such blobs are checked with `stat`,
 * so an archive without duplicates costs nothing more.
 */
export async function liveLocations(
  archive: Archive,
  found: Iterable<BlobLocation>,
  signal?: AbortSignal,
): Promise<Map<string, BlobLocation>> {
  const chosen = new Map<string, BlobLocation>();
  const others = new Map<string, BlobLocation[]>();
  for (const location of found) {
    const key = idKey(location.id);
    const first = chosen.get(key);
    if (first === undefined) chosen.set(key, location);
    else if (first.pack !== location.pack) {
      let list = others.get(key);
      if (!list) {
        list = [];
        others.set(key, list);
      }
      list.push(location);
    }
  }
  if (others.size === 0) return chosen;
  const exists = new Map<string, Promise<boolean>>();
  const packExists = (pack: string) => {
    let answer = exists.get(pack);
    if (answer === undefined) {
      answer = archive.backend.stat(packName(pack), signal ? { signal } : {}).then(
        () => true,
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
      exists.set(pack, answer);
    }
    return answer;
  };
  for (const [key, list] of others) {
    for (const candidate of [chosen.get(key)!, ...list]) {
      if (await packExists(candidate.pack)) {
        chosen.set(key, candidate);
        break;
      }
    }
  }
  return chosen;
}

/** `liveLocations` of the blobs whose `idKey` `ids` holds. */
export function findLiveBlobs(
  archive: Archive,
  indexes: readonly IndexObject[],
  ids: { has(key: string): boolean },
  signal?: AbortSignal,
): Promise<Map<string, BlobLocation>> {
  return liveLocations(
    archive,
    (function* () {
      for (const index of indexes) yield* index.find(ids);
    })(),
    signal,
  );
}
