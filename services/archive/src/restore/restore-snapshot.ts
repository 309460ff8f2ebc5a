import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, open, rm, truncate } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { IndexObject } from '../blob-index/index-file.js';
import { Semaphore } from '../concurrency/semaphore.js';
import { throwIfAborted } from '../errors.js';
import { type ProgressListener, ProgressReporter } from '../progress.js';
import type { Archive } from '../repository/archive.js';
import { withReadLock } from '../repository/with-lock.js';
import { nativePath } from '../snapshot/file-name.js';
import { findSnapshot } from '../snapshot/find-snapshot.js';
import type { Snapshot } from '../snapshot/manifest.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { type TreeEntry, TreeValidator } from '../snapshot/tree-entry.js';
import { loadMetadataIndex, type MetadataIndex, readTree } from '../snapshot/tree-io.js';
import { workSetup } from '../threads/work-context.js';
import { WorkerPool } from '../threads/worker-pool.js';
import { DamagedRestoreError, DamageLedger } from './damaged-files.js';
import { DeltaCompare } from './delta-compare.js';
import { EntryMetadata } from './entry-metadata.js';
import { ExactTimes } from './exact-times.js';
import { BatchFetch } from './fetch-batch.js';
import { FileMaps } from './file-maps.js';
import { MissingPacks } from './missing-packs.js';
import { prepareTargets } from './prepare-target.js';
import { Placement, type Relocations, subtree } from './relocations.js';
import { removeExtras } from './remove-extras.js';
import { linkHardLink, restoreSymlink } from './restore-links.js';
import { WritePlan } from './write-plan.js';

export interface RestoreOptions {
  /** The directory to restore into: created if missing; must be empty unless `delta`. */
  readonly target: string;
  /**
   * Restore over an existing tree: keep what already matches (compared by keyed hash,
   * per 128 KiB superblock for relation files), rewrite only what differs, remove what the snapshot
   * does not have. Default: false.
   */
  readonly delta?: boolean;
  /**
   * Subtrees restored outside the target (see `Relocations`): each directory is held to
   * the target's rules (created if missing, empty unless `delta`). Default: none.
   */
  readonly relocate?: Relocations;
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
  return withReadLock(archive, 'restore', options, async (signal) => {
    const snapshot = await findSnapshot(archive, snapshotRef, { component: options.component, signal });
    const target = resolve(options.target);
    const restorer = new Restorer(archive, snapshot, target, { ...options, signal });
    try {
      // The whole tree is checked before the target is touched: a crafted snapshot
      // fails with nothing written.
      await restorer.validate();
      const relocated = Object.values(options.relocate ?? {}).map((directory) => resolve(directory));
      await prepareTargets([target, ...relocated], options.delta ?? false);
      return await restorer.execute();
    } finally {
      await restorer.close();
    }
  });
}

class Restorer {
  private readonly pool: WorkerPool;
  private readonly progress: ProgressReporter;
  private readonly signal: AbortSignal | undefined;
  private readonly delta: boolean;
  private metadata: MetadataIndex = new Map();
  /** The archive's index objects, read once (see `Archive.openIndexes`). */
  private indexes: readonly IndexObject[] = [];
  private readonly maps: FileMaps;
  private readonly plan = new WritePlan();
  private batchWrites = FIRST_BATCH_WRITES;
  private readonly fetch: BatchFetch;
  private readonly compare: DeltaCompare;
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
  /** Files whose data failed: left out, and reported at the end. */
  private readonly damage = new DamageLedger();
  /** Packs found missing, with the files that needed them (their files are damaged too). */
  private readonly missing = new MissingPacks();
  /** Files created (or cut to size) whose metadata is not set yet: removed if the restore fails. */
  private readonly unfinished = new Set<string>();
  private readonly times: ExactTimes;
  private readonly entryMetadata: EntryMetadata;
  private readonly placement: Placement;

  constructor(
    private readonly archive: Archive,
    private readonly snapshot: Snapshot,
    private readonly target: string,
    options: RestoreOptions,
  ) {
    this.signal = options.signal;
    this.delta = options.delta ?? false;
    this.placement = new Placement(
      target,
      Object.fromEntries(Object.entries(options.relocate ?? {}).map(([path, dir]) => [path, resolve(dir)])),
    );
    this.times = new ExactTimes(options.perl);
    this.entryMetadata = new EntryMetadata(options.owner ?? process.getuid?.() === 0, this.times);
    this.pool = new WorkerPool(workSetup(archive), options.workers);
    this.progress = new ProgressReporter(options.onProgress);
    this.progress.bytesTotal = snapshot.stats.logicalBytes;
    this.progress.filesTotal = snapshot.stats.files;
    this.maps = new FileMaps(archive, () => this.metadata, snapshot.id, this.signal);
    this.fetch = new BatchFetch(archive, this.pool, this.damage, this.missing, this.signal, (bytes) => {
      this.result.bytesWritten += bytes;
      this.progress.add(bytes);
    });
    this.compare = new DeltaCompare(this.pool, new Semaphore(this.pool.size * 2 + 2), this.maps, (bytes) => {
      this.result.bytesKept += bytes;
      this.progress.add(bytes);
    });
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
    if (this.delta) {
      this.result.removed += await removeExtras(this.target, this.tree(), this.signal, this.placement);
      for (const [root, directory] of this.placement.relocations) {
        this.result.removed += await removeExtras(directory, subtree(this.tree(), root), this.signal);
      }
    }
    const validator = new TreeValidator();
    for await (const entry of this.tree()) {
      throwIfAborted(this.signal);
      validator.check(entry, this.snapshot.id);
      this.closeDirsUntil(entry.path);
      const absolute = this.placement.of(entry.path);
      if (entry.type === 'dir') {
        if (entry.path !== '') await mkdir(nativePath(absolute)).catch(ignoreCode('EEXIST'));
        this.dirStack.push({ absolute, entry });
      } else if (entry.type === 'symlink') {
        await restoreSymlink(absolute, entry, this.delta, this.entryMetadata);
      } else if (entry.type === 'hardlink') {
        this.result.files++;
        this.damage.addLink(this.placement.of(entry.target!), entry.path, absolute);
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
      for (const link of this.damage.linksOf(this.placement.of(path))) {
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
    if (this.plan.count < this.batchWrites && this.done.length < ENTRIES_PER_BATCH) return;
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
    const writes = this.plan.take();
    const done = this.done;
    this.done = [];
    this.batchWrites = Math.min(WRITES_PER_BATCH, this.batchWrites * 2);
    // Batches touch different parts of files, so their contents are written side by
    // side; their metadata is applied in order, each batch's after its contents.
    const written = this.fetch.write(this.indexes, writes);
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
        const { mtime } = await this.entryMetadata.start(item.absolute, item.entry);
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

  /**
   * Another name of an earlier file (checked by `TreeValidator`): linked once that file
   * exists. Delta: a name already linked to it stays.
   */
  private async restoreHardLink(absolute: string, entry: TreeEntry): Promise<void> {
    await this.linkable.get(entry.target!);
    if (await linkHardLink(this.placement.of(entry.target!), absolute, this.delta)) this.progress.add(0, 1);
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
      const differ = existing ? await this.compare.file(absolute, entry) : undefined;
      await this.plan.planFile(absolute, entry, differ, zerosFrom, this.maps);
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
          const plain = await this.maps.read(mapId, entry.path);
          const regionOffset = r * regionBytes;
          const differ = existing
            ? await this.compare.region(
                absolute,
                regionOffset,
                plain,
                Math.min(regionBytes, (entry.size ?? 0) - regionOffset),
              )
            : undefined;
          this.plan.planRegion(absolute, entry.path, decodePageMap(plain), regionOffset, differ, zerosFrom);
          await this.maybeFlush();
        }),
      ),
    );
  }
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
