import type { BigIntStats } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  symlink,
  truncate,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isNotFound } from '@pullback/storage';
import { Semaphore } from '../backup/semaphore.js';
import { type SourceStats, walkSource } from '../backup/walk-source.js';
import { ArchiveError, throwIfAborted } from '../errors.js';
import { type BlobLocation, idKey } from '../index/blob-location.js';
import type { IndexObject } from '../index/index-file.js';
import { findLiveBlobs } from '../index/live-locations.js';
import { GarbageBudget } from '../memory/collect-garbage.js';
import { packName } from '../pack/pack-writer.js';
import { type ProgressListener, ProgressReporter } from '../progress.js';
import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';
import { withSharedLock } from '../repository/with-lock.js';
import { decodeChunkMap } from '../snapshot/chunk-map.js';
import { decodeFileName, nativePath } from '../snapshot/file-name.js';
import { findSnapshot } from '../snapshot/find-snapshot.js';
import type { Snapshot } from '../snapshot/manifest.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { comparePaths, type TreeEntry, TreeValidator } from '../snapshot/tree-entry.js';
import { loadMetadataIndex, type MetadataIndex, readMetadataBlob, readTree } from '../snapshot/tree-io.js';
import {
  type BlobWrite,
  type CompareResult,
  type CompareTask,
  PACK_MISSING,
  type WriteResult,
  type WriteTask,
} from '../workers/tasks.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { DamagedRestoreError, DamageLedger } from './damaged-files.js';
import { ExactTimes } from './exact-times.js';
import { MissingPacks } from './missing-packs.js';

export interface RestoreOptions {
  /** The directory to restore into: created if missing; must be empty unless `delta`. */
  readonly target: string;
  /**
   * Restore over an existing tree: keep what already matches (compared by keyed hash,
   * per 128 KiB superblock for relation files), rewrite only what differs, remove what the snapshot
   * does not have. Default: false.
   */
  readonly delta?: boolean;
  /** Only a snapshot whose `component` tag is this (see find-snapshot.ts). Default: any. */
  readonly component?: string;
  /** Restore owners (uid/gid). Default: only when running as root. */
  readonly owner?: boolean;
  /** Worker threads. Default: one per core, at most 4. */
  readonly workers?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
  /** How long to wait for a prune's exclusive lock to go, in ms. Default: 10 000. */
  readonly lockWaitMs?: number;
  /**
   * The perl that sets mtimes to the nanosecond (see `ExactTimes`). Default: `PULLBACK_PERL`,
   * else /usr/bin/perl; without it mtimes are kept to the microsecond.
   */
  readonly perl?: string;
}

export interface RestoreResult {
  readonly snapshot: Snapshot;
  readonly files: number;
  /** Bytes written into files. */
  readonly bytesWritten: number;
  /** Delta: bytes found already equal and left alone. */
  readonly bytesKept: number;
  /** Delta: entries removed because the snapshot does not have them. */
  readonly removed: number;
}

/**
 * Writes gathered before their blobs are located and fetched (bounds memory). The
 * first batch is small so that data flows at once; each next one is twice as large,
 * so the index (scanned once per batch) is scanned a few times only.
 */
const FIRST_BATCH_WRITES = 256;
const WRITES_PER_BATCH = 200_000;
/** Regions of one relation file compared and planned at a time. */
const REGIONS_IN_FLIGHT = 4;
/** Files and directories waiting for their metadata before a batch is written. */
const ENTRIES_PER_BATCH = 50_000;
/** One ranged pack read covers at most this much, skipping gaps up to GAP bytes. */
const RANGE_BYTES = 4 * 1024 * 1024;
const GAP_BYTES = 256 * 1024;
/**
 * ...and opens at most this much plaintext: well-compressed data (PostgreSQL pages
 * shrink 30x) would otherwise make a few huge tasks that leave a worker idle at the
 * end of each batch.
 */
const RANGE_PLAIN_BYTES = 16 * 1024 * 1024;

interface PendingWrite extends BlobWrite {
  readonly file: string;
}

interface FileDone {
  readonly absolute: string;
  readonly entry: TreeEntry;
}

/**
 * Restores a snapshot into `target`, exactly: contents, modes, mtimes, symlinks (as
 * links), empty files and directories. Every blob is authenticated under its id and
 * its decompression checked (zstd's frame checksum, else the id recomputed) before a
 * byte of it is written; a corrupt or missing blob fails the restore with the snapshot
 * and the file it belongs to.
 */
export async function restoreSnapshot(
  archive: Archive,
  snapshotRef: string,
  options: RestoreOptions,
): Promise<RestoreResult> {
  return withSharedLock(archive, 'restore', options, async (signal) => {
    const snapshot = await findSnapshot(archive, snapshotRef, { component: options.component, signal });
    const target = resolve(options.target);
    const restorer = new Restorer(archive, snapshot, target, { ...options, signal });
    try {
      // The whole tree is checked before the target is touched: a crafted snapshot
      // fails with nothing written.
      await restorer.validate();
      await prepareTarget(target, options.delta ?? false);
      return await restorer.execute();
    } finally {
      await restorer.close();
    }
  });
}

async function prepareTarget(target: string, delta: boolean): Promise<void> {
  let stats: BigIntStats | undefined;
  try {
    stats = await lstat(target, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (!stats) {
    await mkdir(target, { recursive: true });
    return;
  }
  if (!stats.isDirectory()) {
    throw new ArchiveError('target-not-directory', `restore target is not a directory: ${target}`, {
      hint: 'restore into a directory, or a path that does not exist yet',
    });
  }
  if (!delta && (await readdir(target)).length > 0) {
    throw new ArchiveError('target-not-empty', `restore target is not empty: ${target}`, {
      hint: 'restore into an empty directory, or pass --delta to update it in place',
    });
  }
}

class Restorer {
  private readonly pool: WorkerPool;
  private readonly progress: ProgressReporter;
  private readonly signal: AbortSignal | undefined;
  private readonly delta: boolean;
  private readonly owner: boolean;
  private metadata: MetadataIndex = new Map();
  /** The archive's index objects, read once (see `Archive.openIndexes`). */
  private indexes: readonly IndexObject[] = [];
  private writes = new Map<string, PendingWrite[]>();
  private writeCount = 0;
  private batchWrites = FIRST_BATCH_WRITES;
  /** The batch being written while the next is planned; it also sets its metadata. */
  private batchInFlight: Promise<void> = Promise.resolve();
  /** Files and closed directories whose metadata waits for the batch's contents. */
  private done: FileDone[] = [];
  private fileWork: Promise<void>[] = [];
  /** A batch being started: planning waits for it (see `maybeFlush`). */
  private starting: Promise<void> | undefined;
  private readonly dirStack: FileDone[] = [];
  /** Files that hard links may name (`nlink` > 1), until they exist. */
  private readonly linkable = new Map<string, Promise<void>>();
  private result = { files: 0, bytesWritten: 0, bytesKept: 0, removed: 0 };
  /** Ranged reads in flight: enough to keep every worker's next task ready. */
  private readonly loads: Semaphore;
  /**
   * The pieces of each ranged read are garbage once joined and handed to a worker;
   * V8 counts them late, so collect after each 32 MiB read (see `collectGarbage`).
   */
  private readonly garbage = new GarbageBudget(32 * 1024 * 1024);
  private readonly compares: Semaphore;
  /** Files whose data failed: left out, and reported at the end. */
  private readonly damage = new DamageLedger();
  /** Packs found missing, with the files that needed them (their files are damaged too). */
  private readonly missing = new MissingPacks();
  /** Files created (or cut to size) whose metadata is not set yet: removed if the restore fails. */
  private readonly unfinished = new Set<string>();
  private readonly times: ExactTimes;

  constructor(
    private readonly archive: Archive,
    private readonly snapshot: Snapshot,
    private readonly target: string,
    options: RestoreOptions,
  ) {
    this.signal = options.signal;
    this.delta = options.delta ?? false;
    this.owner = options.owner ?? process.getuid?.() === 0;
    this.times = new ExactTimes(options.perl);
    this.pool = new WorkerPool(
      {
        encryptionKey: archive.keys.encryption,
        idKey: archive.keys.id,
        gearKey: archive.keys.gear,
        config: archive.config,
      },
      options.workers,
    );
    this.compares = new Semaphore(this.pool.size * 2 + 2);
    this.loads = new Semaphore(this.pool.size * 2 + 1);
    this.progress = new ProgressReporter(options.onProgress);
    this.progress.bytesTotal = snapshot.stats.logicalBytes;
    this.progress.filesTotal = snapshot.stats.files;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.times.close()]);
  }

  private tree(): AsyncGenerator<TreeEntry> {
    return readTree(this.archive, this.metadata, this.snapshot.tree, this.snapshot.id, this.signal);
  }

  async validate(): Promise<void> {
    // The index is read once: metadata first, then every batch's blobs.
    const indexes = await this.archive.openIndexes(this.signal);
    this.indexes = indexes;
    this.metadata = await loadMetadataIndex(this.archive, this.signal, indexes);
    const validator = new TreeValidator();
    for await (const entry of this.tree()) validator.check(entry, this.snapshot.id);
  }

  async execute(): Promise<RestoreResult> {
    try {
      return await this.restoreTree();
    } catch (error) {
      // Nothing may still be writing into the target when the caller hears of it, and
      // no file left half-written may pass for a restored one.
      await this.batchInFlight.catch(() => {});
      await Promise.allSettled(this.fileWork.splice(0));
      for (const path of this.unfinished) {
        await rm(nativePath(path), { force: true });
        for (const link of this.damage.linksOf(path)) await rm(nativePath(link.absolute), { force: true });
      }
      throw error;
    }
  }

  private async restoreTree(): Promise<RestoreResult> {
    if (this.delta) await this.removeExtras();
    const validator = new TreeValidator();
    for await (const entry of this.tree()) {
      throwIfAborted(this.signal);
      validator.check(entry, this.snapshot.id);
      this.closeDirsUntil(entry.path);
      const absolute = entry.path === '' ? this.target : join(this.target, entry.path);
      if (entry.type === 'dir') {
        if (entry.path !== '') await mkdir(nativePath(absolute)).catch(ignoreCode('EEXIST'));
        this.dirStack.push({ absolute, entry });
      } else if (entry.type === 'symlink') {
        await this.restoreSymlink(absolute, entry);
      } else if (entry.type === 'hardlink') {
        this.result.files++;
        this.damage.addLink(join(this.target, entry.target!), entry.path, absolute);
        this.track(this.restoreHardLink(absolute, entry));
      } else {
        this.result.files++;
        const created = this.restoreFile(absolute, entry);
        if (entry.nlink !== undefined && entry.nlink > 1) this.linkable.set(entry.path, created);
        this.track(created);
        if (this.fileWork.length >= 64) await Promise.all(this.fileWork.splice(0));
      }
      await this.maybeFlush();
    }
    this.closeDirsUntil(undefined);
    await Promise.all(this.fileWork.splice(0));
    await this.startBatch();
    await this.batchInFlight;
    this.progress.finish();
    if (this.damage.size > 0) {
      await this.removeLinksToDamaged();
      throw new DamagedRestoreError(
        this.snapshot.id,
        this.result.files - this.damage.size,
        this.damage.list(),
        this.missing.summary(),
      );
    }
    return { snapshot: this.snapshot, ...this.result };
  }

  /**
   * Hard links to damaged files go too, reported as damaged themselves; the directory
   * keeps the mtime restored already.
   */
  private async removeLinksToDamaged(): Promise<void> {
    for (const { path } of this.damage.list()) {
      for (const link of this.damage.linksOf(join(this.target, path))) {
        const directory = nativePath(dirname(link.absolute));
        const { mtimeNs } = await lstat(directory, { bigint: true });
        await rm(nativePath(link.absolute), { force: true });
        await this.times.set(directory, mtimeNs);
        this.damage.add(link.path, `a hard link of damaged ${path}`);
      }
    }
  }

  private track(work: Promise<void>): void {
    // Awaited in bulk later; a failure before then must not count as unhandled.
    work.catch(() => {});
    this.fileWork.push(work);
  }

  /**
   * Queues directories for their metadata once nothing more will be created in them
   * (post-order), and only after the files started in them are created and planned:
   * metadata is applied after the batch's contents, so a read-only directory still
   * gets its files, and its mtime is not moved by them.
   */
  private closeDirsUntil(path: string | undefined): void {
    const closed: FileDone[] = [];
    while (this.dirStack.length > 0) {
      const top = this.dirStack[this.dirStack.length - 1]!;
      const inside = path !== undefined && (top.entry.path === '' || path.startsWith(`${top.entry.path}/`));
      if (inside) break;
      this.dirStack.pop();
      closed.push(top);
    }
    if (closed.length === 0) return;
    if (this.fileWork.length === 0) this.done.push(...closed);
    else this.track(Promise.all(this.fileWork).then(() => void this.done.push(...closed)));
  }

  /**
   * Starts a batch once enough writes (or finished entries) are gathered. Files call
   * it as they plan, region by region, so writing starts before a large file is
   * planned to its end; while a batch waits to start, everyone planning waits too.
   */
  private async maybeFlush(): Promise<void> {
    while (this.starting) await this.starting;
    if (this.writeCount < this.batchWrites && this.done.length < ENTRIES_PER_BATCH) return;
    this.starting = this.startBatch().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  /**
   * Starts writing the writes gathered so far, and returns once the batch before it
   * is done: the next batch is planned while this one is written. A file's writes may
   * span batches; its metadata goes with the batch planned after its last write.
   * Metadata is applied after each batch's contents, batches in order, so nothing is
   * written into a file or directory after its metadata is set.
   */
  private async startBatch(): Promise<void> {
    const writes = this.writes;
    const done = this.done;
    this.writes = new Map();
    this.done = [];
    this.writeCount = 0;
    this.batchWrites = Math.min(WRITES_PER_BATCH, this.batchWrites * 2);
    // Batches touch different parts of files, so their contents are written side by
    // side; their metadata is applied in order, each batch's after its contents.
    const written = this.runBatch(writes);
    written.catch(() => {});
    const previous = this.batchInFlight;
    const batch = Promise.all([written, previous]).then(async () => {
      // mtimes are pipelined (see `ExactTimes`): awaited before a directory's own
      // metadata, as its mode may shut out the paths of its entries, and at the end.
      const timesSet: Promise<void>[] = [];
      for (const item of done) {
        this.unfinished.delete(item.absolute);
        if (this.damage.has(item.entry.path)) {
          await rm(nativePath(item.absolute), { force: true });
          continue;
        }
        if (item.entry.type === 'dir') await Promise.all(timesSet.splice(0));
        const { mtime } = await this.startMetadata(item.absolute, item.entry);
        mtime.catch(() => {});
        timesSet.push(mtime);
        if (item.entry.type === 'file') this.progress.add(0, 1);
      }
      await Promise.all(timesSet);
    });
    // A failure is reported by the next batch, or at the end.
    batch.catch(() => {});
    this.batchInFlight = batch;
    // At most two batches in flight: memory holds two batches' writes and reads.
    await previous;
  }

  private async applyMetadata(absolute: string, entry: TreeEntry): Promise<void> {
    await (await this.startMetadata(absolute, entry)).mtime;
  }

  /** Sets owner and mode, and starts setting the mtime: its promise comes back unawaited. */
  private async startMetadata(absolute: string, entry: TreeEntry): Promise<{ mtime: Promise<void> }> {
    const path = nativePath(absolute);
    if (this.owner) await lchown(path, entry.uid, entry.gid);
    if (entry.type !== 'symlink') await chmod(path, entry.mode);
    return { mtime: this.times.set(path, entry.mtime) };
  }

  private async restoreSymlink(absolute: string, entry: TreeEntry): Promise<void> {
    const path = nativePath(absolute);
    if (this.delta) {
      const existing = await readlink(path, { encoding: 'buffer' }).catch(() => undefined);
      if (existing && decodeFileName(existing) === entry.target) {
        await this.applyMetadata(absolute, entry);
        return;
      }
      await rm(path, { force: true, recursive: true });
    }
    await symlink(nativePath(entry.target!), path);
    await this.applyMetadata(absolute, entry);
  }

  /**
   * Another name of an earlier file (checked by `TreeValidator`): linked once that file
   * exists. Its metadata is the file's own. Delta: a name already linked to it stays.
   */
  private async restoreHardLink(absolute: string, entry: TreeEntry): Promise<void> {
    await this.linkable.get(entry.target!);
    const existing = nativePath(join(this.target, entry.target!));
    const path = nativePath(absolute);
    if (this.delta) {
      const [file, here] = await Promise.all([
        lstat(existing, { bigint: true }),
        lstat(path, { bigint: true }).catch(() => undefined),
      ]);
      if (here && here.ino === file.ino && here.dev === file.dev) return;
      if (here) await rm(path, { recursive: true, force: true });
    }
    await link(existing, path);
    this.progress.add(0, 1);
  }

  private async restoreFile(absolute: string, entry: TreeEntry): Promise<void> {
    const size = entry.size ?? 0;
    // Delta: an existing file is cut to size first; only [0, size) is compared. One
    // with other links is replaced, not written in place: the other paths may not be
    // meant to change (the ones that are get linked again).
    let found = this.delta ? await regularFile(absolute) : undefined;
    if (found && found.nlink > 1n) {
      await rm(nativePath(absolute));
      found = undefined;
    }
    const existing = found !== undefined;
    this.unfinished.add(absolute);
    // Bytes from here on are zeros (a hole) before anything is written: zero blocks
    // written there may stay holes, for a file that had holes. Any other file is
    // written whole, so that it is allocated as it was.
    const zerosFrom = !entry.sparse
      ? Number.POSITIVE_INFINITY
      : found
        ? Math.min(Number(found.size), size)
        : 0;
    if (found) {
      // A file that had no holes is not extended here: the bytes past its old end then
      // compare as differing and are all written, so it ends up allocated.
      await truncate(nativePath(absolute), entry.sparse ? size : Math.min(size, Number(found.size)));
    } else {
      const handle = await open(nativePath(absolute), 'wx', 0o600);
      try {
        if (size > 0) await handle.truncate(size);
      } finally {
        await handle.close();
      }
    }
    const content = entry.content;
    if (content && 'pages' in content) {
      await this.restoreRegions(absolute, entry, content.pages, existing, zerosFrom);
    } else if (content) {
      const differ = existing ? await this.compare(absolute, entry) : undefined;
      await this.planWrites(absolute, entry, differ, zerosFrom);
    }
    this.done.push({ absolute, entry });
  }

  /**
   * A relation file, region by region (a few at a time): compared when it exists,
   * then planned; the batch may start before the file's last region is planned.
   */
  private async restoreRegions(
    absolute: string,
    entry: TreeEntry,
    maps: readonly string[],
    existing: boolean,
    zerosFrom: number,
  ): Promise<void> {
    const regionBytes = this.archive.config.pageSize * this.archive.config.regionPages;
    const regions = new Semaphore(REGIONS_IN_FLIGHT);
    await Promise.all(
      maps.map((mapId, r) =>
        regions.use(async () => {
          const plain = await this.readMap(mapId, entry.path);
          const regionOffset = r * regionBytes;
          let differ: [number, number][] | undefined;
          if (existing) {
            // A copy, moved to the worker: the map itself is planned here.
            const pageMap = { regionOffset, plain: Buffer.from(plain) };
            const task: CompareTask = { kind: 'compare', path: absolute, pageMap };
            differ = (await this.compares.use(() => this.pool.run<CompareResult>(task, [pageMap.plain])))
              .differ;
            this.keep(Math.min(regionBytes, (entry.size ?? 0) - regionOffset), differ);
          }
          const map = decodePageMap(plain);
          const add = this.writer(absolute, entry.path, differ, zerosFrom);
          const runs = map.runs;
          for (let i = 0; i < runs.length; i += 4) {
            add(map.blobs[runs[i + 2]!]!, regionOffset + runs[i]!, runs[i + 3]!, runs[i + 1]!);
          }
          await this.maybeFlush();
        }),
      ),
    );
  }

  /** Delta: counts the bytes of a compared stretch of `length` that `differ` leaves alone. */
  private keep(length: number, differ: readonly [number, number][]): void {
    const differing = differ.reduce((sum, [, n]) => sum + Math.min(n, length), 0);
    const kept = Math.max(0, length - differing);
    this.result.bytesKept += kept;
    this.progress.add(kept);
  }

  /** Delta: the ranges of an existing small or chunked file that differ from the snapshot. */
  private async compare(absolute: string, entry: TreeEntry): Promise<[number, number][]> {
    const content = entry.content!;
    const size = entry.size ?? 0;
    let task: CompareTask;
    if ('small' in content) {
      task = { kind: 'compare', path: absolute, fileHash: Buffer.from(content.small.hash, 'hex') };
    } else {
      const chunks: { offset: number; length: number; id: Buffer }[] = [];
      let offset = 0;
      for await (const chunk of this.chunkList(content, entry.path)) {
        chunks.push({ offset, length: chunk.length, id: chunk.id });
        offset += chunk.length;
      }
      task = { kind: 'compare', path: absolute, chunks };
    }
    const { differ } = await this.compares.use(() => this.pool.run<CompareResult>(task));
    this.keep(size, differ);
    return differ;
  }

  private async readMap(id: string, path: string): Promise<Buffer> {
    return readMetadataBlob(
      this.archive,
      this.metadata,
      Buffer.from(id, 'hex'),
      `snapshot ${this.snapshot.id} file ${path}`,
      this.signal,
    );
  }

  private async *chunkList(
    content: NonNullable<TreeEntry['content']>,
    path: string,
  ): AsyncGenerator<{ id: Buffer; length: number }> {
    if ('chunks' in content) {
      for (const [id, length] of content.chunks) yield { id: Buffer.from(id, 'hex'), length };
    } else if ('chunkMaps' in content) {
      for (const map of content.chunkMaps) yield* decodeChunkMap(await this.readMap(map, path));
    }
  }

  /**
   * A function that records which blob bytes go where in a file, limited to `differ`
   * when given. Pieces must come in increasing file offset (and `differ` is sorted):
   * one cursor walks it. Pieces at or past `zerosFrom` go where the file is a hole.
   */
  private writer(absolute: string, path: string, differ: [number, number][] | undefined, zerosFrom: number) {
    let cursor = 0;
    return (blob: string | Buffer, fileOffset: number, blobOffset: number, length: number) => {
      if (!differ) {
        this.addWrite(blob, absolute, path, fileOffset, blobOffset, length, fileOffset >= zerosFrom);
        return;
      }
      const end = fileOffset + length;
      while (cursor < differ.length && differ[cursor]![0] + differ[cursor]![1] <= fileOffset) cursor++;
      for (let k = cursor; k < differ.length && differ[k]![0] < end; k++) {
        const [start, len] = differ[k]!;
        const from = Math.max(start, fileOffset);
        const to = Math.min(start + len, end);
        if (from < to) {
          this.addWrite(
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

  /** Plans the writes of a small or chunked file. */
  private async planWrites(
    absolute: string,
    entry: TreeEntry,
    differ: [number, number][] | undefined,
    zerosFrom: number,
  ): Promise<void> {
    const content = entry.content!;
    const add = this.writer(absolute, entry.path, differ, zerosFrom);
    if ('small' in content) {
      add(content.small.blob, 0, content.small.offset, entry.size ?? 0);
      return;
    }
    let offset = 0;
    for await (const chunk of this.chunkList(content, entry.path)) {
      add(chunk.id, offset, 0, chunk.length);
      offset += chunk.length;
    }
  }

  private addWrite(
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

  /** Locates the batch's blobs, reads them pack by pack in ranges, and writes them. */
  private async runBatch(writes: Map<string, PendingWrite[]>): Promise<void> {
    if (writes.size > 0) {
      const locations = await findLiveBlobs(this.archive, this.indexes, writes, this.signal);
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
            this.result.bytesWritten += result.bytesWritten;
            this.progress.add(result.bytesWritten);
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

  /**
   * Delta: removes what the target has and the snapshot does not, and entries whose
   * type differs (a directory where the snapshot has a file, a file where it has a
   * symlink...), walking both trees in their common order.
   */
  private async removeExtras(): Promise<void> {
    const tree = this.tree();
    let next = await tree.next();
    for await (const existing of walkSource(this.target, undefined, this.signal)) {
      if (existing.path === '') continue;
      while (!next.done && comparePaths(next.value.path, existing.path) < 0) next = await tree.next();
      const wanted = !next.done && next.value.path === existing.path ? next.value : undefined;
      if (wanted && sameType(wanted, existing.stats)) continue;
      await rm(nativePath(existing.absolute), { recursive: true, force: true });
      this.result.removed++;
    }
  }
}

function sameType(entry: TreeEntry, stats: SourceStats): boolean {
  if (entry.type === 'dir') return stats.isDirectory();
  if (entry.type === 'symlink') return stats.isSymbolicLink();
  // Files and hard links.
  return stats.isFile();
}

/** The status of `path` when it is a regular file. */
async function regularFile(path: string): Promise<BigIntStats | undefined> {
  try {
    const stats = await lstat(nativePath(path), { bigint: true });
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function ignoreCode(code: string) {
  return (error: NodeJS.ErrnoException) => {
    if (error.code !== code) throw error;
  };
}

/** Groups blob locations into ranged reads: same pack, in offset order, small gaps skipped. */
function planRanges(locations: BlobLocation[]): BlobLocation[][] {
  locations.sort((a, b) => (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : a.offset - b.offset));
  const ranges: BlobLocation[][] = [];
  let current: BlobLocation[] = [];
  let plainBytes = 0;
  for (const location of locations) {
    const first = current[0];
    const last = current[current.length - 1];
    if (
      first &&
      last &&
      (location.pack !== first.pack ||
        location.offset - (last.offset + last.length) > GAP_BYTES ||
        location.offset + location.length - first.offset > RANGE_BYTES ||
        plainBytes + location.plainLength > RANGE_PLAIN_BYTES)
    ) {
      ranges.push(current);
      current = [];
      plainBytes = 0;
    }
    current.push(location);
    plainBytes += location.plainLength;
  }
  if (current.length > 0) ranges.push(current);
  return ranges;
}
