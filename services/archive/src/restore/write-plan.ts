import { idKey } from '../blob-index/blob-location.js';
import type { PageMap } from '../snapshot/page-map.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import type { BlobWrite } from '../threads/tasks.js';
import type { FileMaps } from './file-maps.js';

export interface PendingWrite extends BlobWrite {
  /** The file's path in the snapshot, to report it damaged. */
  readonly file: string;
}

/** Ranges of a file (offset, length) that differ from the snapshot; all of it when absent. */
export type Differ = [number, number][] | undefined;

/**
 * The writes of a batch: which bytes of which blob go where in which file, by blob
 * (`idKey`), so that each blob is read once for all its writes.
 */
export class WritePlan {
  private writes = new Map<string, PendingWrite[]>();
  private writeCount = 0;

  /** Writes planned since the last `take`. */
  get count(): number {
    return this.writeCount;
  }

  /** The writes planned so far; the plan starts empty again. */
  take(): Map<string, PendingWrite[]> {
    const writes = this.writes;
    this.writes = new Map();
    this.writeCount = 0;
    return writes;
  }

  /** Plans the writes of a small or chunked file. */
  async planFile(
    absolute: string,
    entry: TreeEntry,
    differ: Differ,
    zerosFrom: number,
    maps: FileMaps,
  ): Promise<void> {
    const content = entry.content!;
    const add = this.writer(absolute, entry.path, differ, zerosFrom);
    if ('small' in content) {
      add(content.small.blob, 0, content.small.offset, entry.size ?? 0);
      return;
    }
    let offset = 0;
    for await (const chunk of maps.chunks(content, entry.path)) {
      add(chunk.id, offset, 0, chunk.length);
      offset += chunk.length;
    }
  }

  /** Plans the writes of one region of a relation file, from its page map. */
  planRegion(
    absolute: string,
    path: string,
    map: PageMap,
    regionOffset: number,
    differ: Differ,
    zerosFrom: number,
  ): void {
    const add = this.writer(absolute, path, differ, zerosFrom);
    const runs = map.runs;
    for (let i = 0; i < runs.length; i += 4) {
      add(map.blobs[runs[i + 2]!]!, regionOffset + runs[i]!, runs[i + 3]!, runs[i + 1]!);
    }
  }

  /**
   * A function that records which blob bytes go where in a file, limited to `differ`
   * when given. Pieces must come in increasing file offset (and `differ` is sorted):
   * one cursor walks it. Pieces at or past `zerosFrom` go where the file is a hole.
   */
  private writer(absolute: string, path: string, differ: Differ, zerosFrom: number) {
    let cursor = 0;
    return (blob: string | Buffer, fileOffset: number, blobOffset: number, length: number) => {
      if (!differ) {
        this.add(blob, absolute, path, fileOffset, blobOffset, length, fileOffset >= zerosFrom);
        return;
      }
      const end = fileOffset + length;
      while (cursor < differ.length && differ[cursor]![0] + differ[cursor]![1] <= fileOffset) cursor++;
      for (let k = cursor; k < differ.length && differ[k]![0] < end; k++) {
        const [start, len] = differ[k]!;
        const from = Math.max(start, fileOffset);
        const to = Math.min(start + len, end);
        if (from < to) {
          this.add(
            blob,
            absolute,
            path,
            from,
            blobOffset + (from - fileOffset),
            to - from,
            from >= zerosFrom,
          );
        }
      }
    };
  }

  private add(
    blob: string | Buffer,
    path: string,
    file: string,
    fileOffset: number,
    blobOffset: number,
    length: number,
    sparse: boolean,
  ): void {
    const key = idKey(typeof blob === 'string' ? Buffer.from(blob, 'hex') : blob);
    let list = this.writes.get(key);
    if (!list) {
      list = [];
      this.writes.set(key, list);
    }
    list.push({ path, file, fileOffset, blobOffset, length, ...(sparse ? { sparse } : {}) });
    this.writeCount++;
  }
}
