import type { Semaphore } from '../concurrency/semaphore.js';
import type { TreeEntry } from '../snapshot/tree-entry.js';
import type { CompareResult, CompareTask } from '../threads/tasks.js';
import type { WorkerPool } from '../threads/worker-pool.js';
import type { FileMaps } from './file-maps.js';

/**
 * Delta: finds which ranges of an existing file differ from the snapshot (a worker
 * hashes the file's bytes and compares them with the snapshot's), so only those are
 * written; what matches counts as kept.
 */
export class DeltaCompare {
  constructor(
    private readonly pool: WorkerPool,
    /** Comparisons in flight. */
    private readonly compares: Semaphore,
    private readonly maps: FileMaps,
    /** Told of the bytes found equal and left alone. */
    private readonly onKept: (bytes: number) => void,
  ) {}

  /** The ranges of an existing small or chunked file that differ from the snapshot. */
  async file(absolute: string, entry: TreeEntry): Promise<[number, number][]> {
    const content = entry.content!;
    const size = entry.size ?? 0;
    let task: CompareTask;
    if ('small' in content) {
      task = { kind: 'compare', path: absolute, fileHash: Buffer.from(content.small.hash, 'hex') };
    } else {
      const chunks: { offset: number; length: number; id: Buffer }[] = [];
      let offset = 0;
      for await (const chunk of this.maps.chunks(content, entry.path)) {
        chunks.push({ offset, length: chunk.length, id: chunk.id });
        offset += chunk.length;
      }
      task = { kind: 'compare', path: absolute, chunks };
    }
    const { differ } = await this.compares.use(() => this.pool.run<CompareResult>(task));
    this.keep(size, differ);
    return differ;
  }

  /**
   * The ranges of one region of an existing relation file that differ from its page
   * map (`plain`), compared per superblock; `length` is the region's length in the file.
   */
  async region(
    absolute: string,
    regionOffset: number,
    plain: Buffer,
    length: number,
  ): Promise<[number, number][]> {
    // A copy, moved to the worker: the map itself is planned here.
    const pageMap = { regionOffset, plain: Buffer.from(plain) };
    const task: CompareTask = { kind: 'compare', path: absolute, pageMap };
    const { differ } = await this.compares.use(() => this.pool.run<CompareResult>(task, [pageMap.plain]));
    this.keep(length, differ);
    return differ;
  }

  /** Counts the bytes of a compared stretch of `length` that `differ` leaves alone. */
  private keep(length: number, differ: readonly [number, number][]): void {
    const differing = differ.reduce((sum, [, n]) => sum + Math.min(n, length), 0);
    this.onKept(Math.max(0, length - differing));
  }
}
