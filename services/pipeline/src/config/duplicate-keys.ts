import { type Document, isMap, isScalar, visit } from 'yaml';

/**
 * The offset of the first key that repeats an earlier key of the same mapping, or
 * undefined. The yaml library's own `uniqueKeys` check compares every key with every
 * other: a 1 MiB file of 60,000 keys took two minutes. A set per mapping is linear.
 */
export function firstDuplicateKey(doc: Document): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        // Only scalar keys can be told equal cheaply; a config has no other kind.
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) {
          found = pair.key.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(pair.key.value);
      }
      return undefined;
    },
  });
  return found;
}
