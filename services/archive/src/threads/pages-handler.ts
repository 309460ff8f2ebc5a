import { closeSync } from 'node:fs';
import { openForRead, readFully } from '../fs/read-range.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { checkPages } from './page-check.js';
import { RegionMapBuilder } from './region-map.js';
import type { PagesResult, PagesTask } from './tasks.js';
import { scratch, type WorkContext } from './work-context.js';

/** Superblocks read at a time: memory does not follow the region size. */
const WINDOW_SUPERBLOCKS = 8;

/**
 * One region of a relation file, read and compared with the parent's page map of the
 * same region (see `RegionMapBuilder`). The first backup hashes every page once, so
 * later ones can store a changed page alone. With `check`, each page read is checked
 * against its data checksum first (`checkPages`).
 */
export async function handlePages(ctx: WorkContext, task: PagesTask): Promise<PagesResult> {
  const superblockBytes = ctx.config.pageSize * ctx.config.superblockPages;
  const fd = openForRead(task.path);
  try {
    const parent = task.parentMap ? decodePageMap(task.parentMap) : undefined;
    const region = new RegionMapBuilder(ctx, parent, task.length);
    const window = scratch(Math.min(WINDOW_SUPERBLOCKS * superblockBytes, task.length));
    let windowStart = 0;
    let windowLength = 0;
    let eof = false;
    const corrupt: number[] = [];
    for (let s = 0; ; s++) {
      const start = s * superblockBytes;
      if (start >= windowStart + windowLength) {
        // A short read means the file ends (or shrank) there.
        if (eof || start >= task.length) break;
        const want = Math.min(window.length, task.length - start);
        windowStart = start;
        const position = (task.base ?? 0) + task.offset + start;
        windowLength = readFully(fd, window, position, want);
        eof = windowLength < want;
        if (windowLength === 0) break;
        if (task.check) {
          corrupt.push(
            ...checkPages(fd, window.subarray(0, windowLength), position, task.offset + start, task.check),
          );
        }
      }
      const end = Math.min(windowStart + windowLength, start + superblockBytes);
      await region.add(s, window.subarray(start - windowStart, end - windowStart));
    }
    const { length, ...map } = await region.finish(task.parentMapId);
    return { ...map, bytesRead: length, ...(corrupt.length > 0 ? { corrupt } : {}) };
  } finally {
    closeSync(fd);
  }
}
