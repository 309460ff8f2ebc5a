import { PAGE_SIZE, pageHeader } from '@pullback/archive';
import { encodePageDeltaHeader, PAGE_DELTA_DIR, pageDeltaSize } from '@pullback/pipeline/core';
import { checkPages, type OpenDataFile, type PageCheck, readDataFile } from './data-file-reader.js';
import type { TarEntry } from './tar-of-entries.js';

/** Pages read at once in the second pass. */
const RUN_PAGES = 128;

/**
 * The blocks of a relation file that changed since `sinceLsn` (the previous export's
 * start): every page whose LSN is not older, and every page not initialised (a page
 * truncated away and extended again is zeros with LSN 0, and must not be taken from
 * the parent). The whole file is read (and checked, with `check`); undefined when it
 * is not whole pages (being extended as it was read): then it is copied whole.
 */
export async function changedBlocks(
  file: OpenDataFile,
  sinceLsn: bigint,
  check: PageCheck | undefined,
): Promise<Uint32Array | undefined> {
  if (file.size % PAGE_SIZE !== 0) return undefined;
  const blocks: number[] = [];
  let block = 0;
  for await (const piece of readDataFile(file, file.size, check)) {
    for (let at = 0; at + PAGE_SIZE <= piece.length; at += PAGE_SIZE, block++) {
      const header = pageHeader(new Uint32Array(piece.buffer, piece.byteOffset + at, 4));
      if (header.isNew || header.lsn >= sinceLsn) blocks.push(block);
    }
  }
  return Uint32Array.from(blocks);
}

/**
 * The tar member `.pullback-incremental/pages/<path>` holding `blocks` of the file
 * (artifact/incremental.ts in @pullback/pipeline): read a run at a time, each page
 * checked with `check` when given. A page gone since the file was opened (truncated)
 * is zeros: the truncation is in the WAL the backup replays.
 */
export function pageDeltaMember(
  path: string,
  file: OpenDataFile,
  blocks: Uint32Array,
  mode: number,
  mtime: Date,
  check?: PageCheck,
): TarEntry {
  return {
    type: 'file',
    name: `${PAGE_DELTA_DIR}/${path}`,
    mode,
    mtime,
    size: pageDeltaSize(PAGE_SIZE, blocks.length),
    content: async function* () {
      try {
        yield encodePageDeltaHeader({ pageSize: PAGE_SIZE, fileSize: file.size, blocks });
        for (let index = 0; index < blocks.length; ) {
          let count = 1;
          while (
            index + count < blocks.length &&
            count < RUN_PAGES &&
            blocks[index + count] === blocks[index]! + count
          ) {
            count++;
          }
          const buffer = Buffer.alloc(count * PAGE_SIZE);
          const offset = blocks[index]! * PAGE_SIZE;
          await file.handle.read(buffer, 0, buffer.length, offset);
          if (check !== undefined) await checkPages(file.handle, buffer, offset, check);
          yield buffer;
          index += count;
        }
      } finally {
        await file.handle.close();
      }
    },
  };
}
