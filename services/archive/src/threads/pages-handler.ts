import { closeSync } from 'node:fs';
import { openForRead, readFullyAsync } from '../fs/read-range.js';
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
  let reading: Promise<number> | undefined;
  try {
    const parent = task.parentMap ? decodePageMap(task.parentMap) : undefined;
    const region = new RegionMapBuilder(ctx, parent, task.length);
    // Two windows: the disk fills the next while this thread works on the other.
    const windowBytes = Math.min(WINDOW_SUPERBLOCKS * superblockBytes, task.length);
    const windows = [scratch(windowBytes), scratch(windowBytes, 'ahead')];
    const from = (task.base ?? 0) + task.offset;
    const readAt = (start: number, window: Buffer) =>
      readFullyAsync(fd, window, from + start, Math.min(window.length, task.length - start));
    const corrupt: number[] = [];
    let start = 0;
    reading = task.length > 0 ? readAt(0, windows[0]!) : undefined;
    for (let w = 0; reading !== undefined; w++) {
      const window = windows[w % 2]!;
      const length = await reading;
      // A short read means the file ends (or shrank) there.
      const whole = length === Math.min(window.length, task.length - start);
      reading =
        whole && start + length < task.length ? readAt(start + length, windows[(w + 1) % 2]!) : undefined;
      if (length === 0) break;
      if (task.check) {
        corrupt.push(
          ...checkPages(fd, window.subarray(0, length), from + start, task.offset + start, task.check),
        );
      }
      for (let at = 0; at < length; at += superblockBytes) {
        const bytes = window.subarray(at, Math.min(length, at + superblockBytes));
        await region.add((start + at) / superblockBytes, bytes);
      }
      start += length;
    }
    const { length, ...map } = await region.finish(task.parentMapId);
    return { ...map, bytesRead: length, ...(corrupt.length > 0 ? { corrupt } : {}) };
  } finally {
    // A read still in flight must end before its file is closed and its buffer reused.
    await reading?.catch(() => {});
    closeSync(fd);
  }
}
