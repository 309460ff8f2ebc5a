import { throwIfAborted } from '../errors.js';
import { skipReason } from '../fs/skip-reason.js';
import type { SourceEntry } from '../fs/walk-source.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import type { PagesResult } from '../threads/tasks.js';
import type { ContentWork, StoredFile } from './content-work.js';
import { pageCheckFor } from './page-checksums.js';

/**
 * Stores a relation file region by region: each region's pages are compared with the
 * parent's page map for the same region, and only changed pages are stored.
 */
export async function storePagedFile(
  work: ContentWork,
  source: SourceEntry,
  size: number,
  parent: TreeEntry | undefined,
): Promise<StoredFile | string> {
  const { pool, slots, blobs, signal, onRead } = work;
  const { pageSize, regionPages } = work.archive.config;
  const regionBytes = pageSize * regionPages;
  const parentMaps = parent?.content && 'pages' in parent.content ? parent.content.pages : [];
  const regions = Math.ceil(size / regionBytes);
  const check = pageCheckFor(work.pageChecksums, source.path);
  const results = await Promise.all(
    Array.from({ length: regions }, (_, r) =>
      slots.use(async () => {
        throwIfAborted(signal);
        const parentMapHex = parentMaps[r];
        const parentMapId = parentMapHex ? Buffer.from(parentMapHex, 'hex') : undefined;
        const parentMap = parentMapId ? await work.readParentMap(parentMapId, source.path) : undefined;
        const offset = r * regionBytes;
        let result: PagesResult;
        try {
          result = await pool.run<PagesResult>(
            {
              kind: 'pages',
              path: source.absolute,
              ...(source.base === undefined ? {} : { base: source.base }),
              offset,
              length: Math.min(regionBytes, size - offset),
              ...(parentMapId && parentMap ? { parentMapId, parentMap } : {}),
              ...(check === undefined ? {} : { check }),
            },
            parentMap ? [parentMap] : [],
          );
        } catch (error) {
          const why = skipReason(error);
          if (why === undefined) throw error;
          return why;
        }
        await blobs.store(result.blobs);
        if (result.mapBlob) await blobs.store([result.mapBlob]);
        for (const block of result.corrupt ?? []) work.pageChecksums?.onCorrupt(source.path, block);
        onRead(result.bytesRead);
        return { id: result.mapId.toString('hex'), length: result.bytesRead };
      }),
    ),
  );
  const skipped = results.find((r) => typeof r === 'string');
  if (skipped !== undefined) return skipped;
  const maps = results as { id: string; length: number }[];
  return { content: { pages: maps.map((m) => m.id) }, size: maps.reduce((sum, m) => sum + m.length, 0) };
}
