import { isNotFound } from '@pullback/storage';
import { idKey } from '../blob-index/blob-location.js';
import type { IndexObject } from '../blob-index/index-file.js';
import { findLiveBlobs } from '../blob-index/live-locations.js';
import { Semaphore } from '../concurrency/semaphore.js';
import { throwIfAborted } from '../errors.js';
import { GarbageBudget } from '../memory/collect-garbage.js';
import { packName } from '../pack/pack-writer.js';
import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';
import { PACK_MISSING, type WriteResult, type WriteTask } from '../threads/tasks.js';
import type { WorkerPool } from '../threads/worker-pool.js';
import type { DamageLedger } from './damaged-files.js';
import type { MissingPacks } from './missing-packs.js';
import { planRanges } from './plan-ranges.js';
import type { PendingWrite } from './write-plan.js';

/**
 * Fetches a batch's blobs and has workers write them: locates them in the index, reads
 * them pack by pack in ranges, and hands each range to a worker with its writes. A
 * blob that is missing or corrupt damages the files that needed it, and the restore
 * goes on (see `DamagedRestoreError`).
 */
export class BatchFetch {
  /** Ranged reads in flight: enough to keep every worker's next task ready. */
  private readonly loads: Semaphore;
  /**
   * The pieces of each ranged read are garbage once joined and handed to a worker;
   * V8 counts them late, so collect after each 32 MiB read (see `collectGarbage`).
   */
  private readonly garbage = new GarbageBudget(32 * 1024 * 1024);

  constructor(
    private readonly archive: Archive,
    private readonly pool: WorkerPool,
    private readonly damage: DamageLedger,
    /** Packs found missing, with the files that needed them. */
    private readonly missing: MissingPacks,
    private readonly signal: AbortSignal | undefined,
    /** Told of the bytes written into files. */
    private readonly onWritten: (bytes: number) => void,
  ) {
    this.loads = new Semaphore(pool.size * 2 + 1);
  }

  /** Locates the batch's blobs in `indexes`, reads them pack by pack in ranges, and writes them. */
  async write(indexes: readonly IndexObject[], writes: Map<string, PendingWrite[]>): Promise<void> {
    if (writes.size === 0) return;
    const locations = await findLiveBlobs(this.archive, indexes, writes, this.signal);
    for (const [key, list] of writes) {
      if (!locations.has(key)) {
        const reason = `blob ${Buffer.from(key, 'latin1').toString('hex').slice(0, 16)} is not in the archive index`;
        for (const write of list) this.damage.add(write.file, reason);
      }
    }
    const ranges = planRanges([...locations.values()]);
    await Promise.all(
      ranges.map((range) =>
        this.loads.use(async () => {
          throwIfAborted(this.signal);
          const first = range[0]!;
          const last = range[range.length - 1]!;
          const span = { offset: first.offset, length: last.offset + last.length - first.offset };
          // A pack on this machine's disk is read by the worker itself: no copy here.
          const localPath = this.archive.backend.localPath;
          let read: Pick<WriteTask, 'sealed' | 'file'>;
          if (localPath !== undefined) {
            read = { file: { path: localPath(packName(first.pack)), ...span } };
          } else {
            const sealed = await this.archive.backend
              .load(packName(first.pack), span, this.signal ? { signal: this.signal } : {})
              .then(readAll, (error: unknown) => {
                if (isNotFound(error)) return undefined;
                throw error;
              });
            if (sealed === undefined) {
              for (const location of range) {
                const list = writes.get(idKey(location.id))!;
                this.missing.add(first.pack, list);
                for (const write of list)
                  this.damage.add(write.file, `pack ${first.pack.slice(0, 16)} is missing`);
              }
              return;
            }
            this.garbage.spend(sealed.length);
            read = { sealed };
          }
          const result = await this.pool.run<WriteResult>(
            {
              kind: 'write',
              ...read,
              blobs: range.map((location) => ({
                at: location.offset - first.offset,
                length: location.length,
                id: location.id,
                compression: location.compression,
                plainLength: location.plainLength,
                writes: writes
                  .get(idKey(location.id))!
                  .map(({ path, fileOffset, blobOffset, length, sparse }) => ({
                    path,
                    fileOffset,
                    blobOffset,
                    length,
                    ...(sparse ? { sparse } : {}),
                  })),
              })),
            },
            read.sealed ? [read.sealed] : [],
          );
          this.onWritten(result.bytesWritten);
          // Its files are left out and the restore goes on: see `DamagedRestoreError`.
          for (const bad of result.corrupt) {
            const list = writes.get(idKey(bad.id))!;
            if (bad.reason === PACK_MISSING) {
              this.missing.add(first.pack, list);
              for (const write of list)
                this.damage.add(write.file, `pack ${first.pack.slice(0, 16)} is missing`);
              continue;
            }
            const reason = `blob ${bad.id.toString('hex').slice(0, 16)} in pack ${first.pack.slice(0, 16)}: ${bad.reason}`;
            for (const write of list) this.damage.add(write.file, reason);
          }
        }),
      ),
    );
  }
}
