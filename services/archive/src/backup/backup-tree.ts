import { lstat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { isRelationPath } from '../chunking/file-kind.js';
import { ArchiveError, throwIfAborted } from '../errors.js';
import { skipReason } from '../fs/skip-reason.js';
import { idKey } from '../index/blob-location.js';
import { IndexWriter } from '../index/index-writer.js';
import { GarbageBudget } from '../memory/collect-garbage.js';
import { sealBlob } from '../pack/blob-codec.js';
import { BlobType, Compression, type SealedBlob } from '../pack/blob-entry.js';
import { PackWriter } from '../pack/pack-writer.js';
import { type ProgressListener, ProgressReporter } from '../progress.js';
import type { Archive } from '../repository/archive.js';
import { withSharedLock } from '../repository/with-lock.js';
import { type ChunkRef, decodeChunkMap, encodeChunkMap, endsChunkMap } from '../snapshot/chunk-map.js';
import { findSnapshot } from '../snapshot/find-snapshot.js';
import { encodeSnapshot, listSnapshots, type Snapshot, type SnapshotManifest } from '../snapshot/manifest.js';
import { comparePaths, type FileContent, type TreeEntry } from '../snapshot/tree-entry.js';
import { type MetadataIndex, readMetadataBlob, TreeWriter } from '../snapshot/tree-io.js';
import { sharedSortedIds } from '../workers/sorted-ids.js';
import type { ChunksResult, PagesResult, SmallResult } from '../workers/tasks.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { loadDedupIndex, usableParent } from './dedup-index.js';
import { readParentTree } from './parent-tree.js';
import { Semaphore } from './semaphore.js';
import { StorableEntries } from './storable-entries.js';
import { type SkipListener, type SourceEntry, specialKind, walkSource } from './walk-source.js';

export interface BackupTreeOptions {
  /** Labels stored with the snapshot, e.g. `{ component: 'shop', kind: 'files' }`. */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * The snapshot to compare with: an id, a unique prefix, `latest`, or `null` for none.
   * Default: the latest snapshot of the same path (and the same `component` tag).
   */
  readonly parent?: string | null;
  /** Paths (relative, `/`-separated) to leave out, with everything under them. */
  readonly exclude?: (path: string) => boolean;
  /** Worker threads. Default: one per core, at most 4. */
  readonly workers?: number;
  /** Recorded in the snapshot. Default: `os.hostname()`. */
  readonly hostname?: string;
  /** Re-read files whose size, mtime and ctime match the parent's. Default: false. */
  readonly force?: boolean;
  /** Blob ids of the archive kept in memory for deduplication, at most. Default: 2,000,000. */
  readonly knownBlobsMax?: number;
  readonly onProgress?: ProgressListener;
  /**
   * Told of each entry left out (one line: the path and why): files that vanished or
   * may not be read, directories that may not be listed, sockets, fifos and devices.
   * They are counted in `stats.skipped`; the snapshot is made without them. Default:
   * ignore.
   */
  readonly onWarning?: (message: string) => void;
  readonly signal?: AbortSignal;
  /** How long to wait for a prune's exclusive lock to go, in ms. Default: 10 000. */
  readonly lockWaitMs?: number;
  /**
   * The entries to back up instead of walking `path`, in tree order (`comparePaths`),
   * the root ("") first; called again for each pass. `path` then only names the source
   * (parents are chosen by it). Entries with a `base` are read from inside a container
   * file, as the members of a tar are, so nothing needs unpacking first.
   */
  readonly source?: () => AsyncIterable<SourceEntry>;
  /**
   * Runs once everything is stored, before the manifest commits the snapshot; a
   * rejection leaves no snapshot. For checks that finish alongside the backup (the
   * digest of the tar being read).
   */
  readonly beforeCommit?: () => Promise<void>;
}

/** Bytes a content-defined task reads before it looks for its last cut. */
const CHUNK_TASK_BYTES = 2 * 1024 * 1024;
/** Chunk lists up to this long stay inline in the tree entry. */
const INLINE_CHUNKS = 32;
/** Tree entries waiting for their content before the walk pauses. */
const MAX_PENDING_ENTRIES = 1024;
/** Small files per bundle task, at most. */
const SMALL_FILES_PER_TASK = 512;
/** What a small file counts toward the main thread's collection budget. */
const SMALL_FILE_GARBAGE = 8 * 1024;

/** A file's content as stored; a string instead says why the file was not (`skipReason`). */
interface StoredFile {
  readonly content?: FileContent;
  readonly size: number;
}

interface SmallBatchFile {
  readonly path: string;
  /** Where the file sits in a container; empty for a file of its own. */
  readonly slice: { base?: number; size?: number };
  readonly parentHash?: Buffer;
  readonly parentContent?: FileContent;
  readonly resolve: (value: StoredFile | string) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Takes a snapshot of the directory tree at `path`: reads what changed since the parent
 * snapshot, stores new data in packs, then the index, then the manifest, which commits
 * the snapshot. Nothing is committed if it fails or is aborted; what it stored so far
 * is garbage for prune.
 */
export async function backupTree(
  archive: Archive,
  path: string,
  options: BackupTreeOptions = {},
): Promise<Snapshot> {
  const started = Date.now();
  const root = resolve(path);
  if (options.source === undefined) await checkDirectory(root);
  const tags = options.tags ?? {};
  return withSharedLock(archive, 'backup', options, async (signal) => {
    const parent = await chooseParent(archive, root, tags, options.parent, signal);
    const run = new BackupRun(archive, root, parent, { ...options, signal });
    try {
      return await run.execute(tags, started);
    } finally {
      await run.close();
    }
  });
}

async function checkDirectory(root: string): Promise<void> {
  try {
    const stats = await lstat(root);
    if (!stats.isDirectory()) throw new ArchiveError('source-missing', `not a directory: ${root}`);
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError('source-missing', `no such directory: ${root}`, { cause: error });
  }
}

async function chooseParent(
  archive: Archive,
  root: string,
  tags: Readonly<Record<string, string>>,
  parent: string | null | undefined,
  signal: AbortSignal | undefined,
): Promise<Snapshot | undefined> {
  if (parent === null) return undefined;
  if (parent !== undefined) return findSnapshot(archive, parent, { signal });
  const candidates = (await listSnapshots(archive, signal)).filter(
    (s) => s.paths[0] === root && s.tags.component === tags.component,
  );
  return candidates.at(-1);
}

class BackupRun {
  private readonly pool: WorkerPool;
  private readonly dataPacks: PackWriter;
  private readonly metaPacks: PackWriter;
  private readonly index: IndexWriter;
  private readonly tree: TreeWriter;
  private readonly progress: ProgressReporter;
  /** Ids stored in this run or known in the archive: never stored again. */
  private known = new Set<string>();
  private metadata: MetadataIndex = new Map();
  /** Blobs whose packs are gone (see `loadDedupIndex`). */
  private lost: ReadonlySet<string> = new Set();
  /** Whether a blob (`idKey`) is one the archive does not have. */
  private missing: (key: string) => boolean = () => false;
  private readonly slots: Semaphore;
  private smallBatch: SmallBatchFile[] = [];
  /** The first name met of each file with several names (`dev:ino`), and its entry. */
  private readonly inodes = new Map<string, { path: string; entry: Promise<TreeEntry | undefined> }>();
  private readonly pendingEntries: Promise<TreeEntry | undefined>[] = [];
  private readonly signal: AbortSignal | undefined;
  private counts = { files: 0, dirs: 0, symlinks: 0, skipped: 0, logicalBytes: 0, bytesRead: 0 };
  private newBlobs = 0;
  /**
   * Sealed blobs from the workers are garbage once copied into a pack; V8 counts them
   * late, so incompressible data would otherwise pile up (see `collectGarbage`).
   */
  private readonly garbage = new GarbageBudget(8 * 1024 * 1024);
  private storedBytes = 0;

  constructor(
    private readonly archive: Archive,
    private readonly root: string,
    private readonly parent: Snapshot | undefined,
    private readonly options: BackupTreeOptions,
  ) {
    this.signal = options.signal;
    this.pool = new WorkerPool(
      {
        encryptionKey: archive.keys.encryption,
        idKey: archive.keys.id,
        gearKey: archive.keys.gear,
        config: archive.config,
      },
      options.workers,
    );
    // Enough tasks in flight to keep every worker busy while results are packed.
    this.slots = new Semaphore(this.pool.size + 2);
    this.index = new IndexWriter(archive);
    const onSaved = (pack: { id: string; size: number; entries: readonly unknown[] }) => {
      this.storedBytes += pack.size;
      this.index.add(pack as Parameters<IndexWriter['add']>[0]);
    };
    const packOptions = {
      backend: archive.backend,
      key: archive.keys.encryption,
      packSize: archive.config.packSize,
      onSaved,
      ...(this.signal ? { signal: this.signal } : {}),
    };
    this.dataPacks = new PackWriter(packOptions);
    this.metaPacks = new PackWriter(packOptions);
    this.tree = new TreeWriter(archive, this.metaPacks, (id) => this.claim(id));
    this.progress = new ProgressReporter(options.onProgress);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  async execute(tags: Readonly<Record<string, string>>, started: number): Promise<Snapshot> {
    await this.loadIndex();
    if (this.options.onProgress) await this.measureSource();
    const parentEntries = this.parent
      ? readParentTree(this.archive, this.metadata, this.parent, this.signal)
      : undefined;
    let parentNext = parentEntries ? await parentEntries.next() : undefined;
    // Whatever no restore could take is refused here, before the commit.
    const storable = new StorableEntries(this.root);
    for await (const source of this.entries((path, why) => this.skip(path, why))) {
      throwIfAborted(this.signal);
      storable.check(source);
      let parentEntry: TreeEntry | undefined;
      while (parentEntries && parentNext && !parentNext.done) {
        const order = comparePaths(parentNext.value.path, source.path);
        if (order > 0) break;
        if (order === 0) parentEntry = parentNext.value;
        parentNext = await parentEntries.next();
      }
      // Never reuse a parent's content that needs a blob the archive lost (a lost
      // pack, or a damaged blob `verify --repair` dropped).
      if (parentEntry?.content) {
        parentEntry = await usableParent(parentEntry, this.missing, this.lost.size > 0, (id) =>
          this.readParentMap(id, source.path),
        );
      }
      const entry = this.entryOrLink(source, parentEntry);
      // Awaited in order by writeHead; this only keeps an early failure from being
      // reported as unhandled before its turn comes.
      entry.catch(() => {});
      this.pendingEntries.push(entry);
      while (this.pendingEntries.length > MAX_PENDING_ENTRIES) await this.writeHead();
    }
    this.flushSmall();
    while (this.pendingEntries.length > 0) await this.writeHead();
    const treeIds = await this.tree.finish();
    await this.dataPacks.flush();
    await this.metaPacks.flush();
    await this.index.flush();
    await this.options.beforeCommit?.();
    throwIfAborted(this.signal);
    const stats = {
      ...this.counts,
      newBlobs: this.newBlobs,
      newBytesStored: this.storedBytes + this.index.bytesWritten,
      durationMs: 0,
    };
    const manifest: SnapshotManifest = {
      version: 1,
      time: new Date(started).toISOString(),
      hostname: this.options.hostname ?? hostname(),
      paths: [this.root],
      tags,
      parent: this.parent?.id ?? null,
      tree: treeIds,
      stats,
    };
    // The manifest's own size is part of what this snapshot stored.
    const draft = encodeSnapshot(this.archive, manifest);
    const final: SnapshotManifest = {
      ...manifest,
      stats: {
        ...stats,
        newBytesStored: stats.newBytesStored + draft.body.length,
        durationMs: Date.now() - started,
      },
    };
    const { id, body } = encodeSnapshot(this.archive, final);
    await this.archive.backend.save(`snapshots/${id}`, body, this.signal ? { signal: this.signal } : {});
    this.progress.finish();
    return { ...final, id };
  }

  /**
   * Metadata locations (to read the parent's trees and maps) and, while there are not
   * too many, every blob id in the archive (to store nothing twice), in one pass; only
   * packs that exist count (see `loadDedupIndex`).
   */
  private async loadIndex(): Promise<void> {
    const index = await loadDedupIndex(this.archive, this.options.knownBlobsMax ?? 2_000_000, this.signal);
    this.known = index.known;
    this.metadata = index.metadata;
    this.lost = index.lost;
    const { known, lost, complete } = index;
    this.missing = (key) => lost.has(key) || (complete && !known.has(key));
  }

  private readParentMap(id: Buffer, path: string): Promise<Buffer> {
    return readMetadataBlob(
      this.archive,
      this.metadata,
      id,
      `snapshot ${this.parent!.id} file ${path}`,
      this.signal,
    );
  }

  /** An entry left out of the snapshot (or a directory whose contents are), and why. */
  private skip(path: string, why: string): void {
    this.counts.skipped++;
    this.options.onWarning?.(`skipped ${JSON.stringify(path === '' ? '.' : path)}: ${why}`);
  }

  /** The source's entries, in tree order, without the excluded ones. */
  private async *entries(onSkip?: SkipListener): AsyncGenerator<SourceEntry> {
    const { source, exclude } = this.options;
    if (source === undefined) {
      yield* walkSource(this.root, exclude, this.signal, onSkip);
      return;
    }
    for await (const entry of source()) {
      if (entry.path === '' || !exclude?.(entry.path)) yield entry;
    }
  }

  private async measureSource(): Promise<void> {
    let bytes = 0;
    let files = 0;
    for await (const source of this.entries()) {
      if (source.stats.isFile()) {
        bytes += Number(source.stats.size);
        files++;
      }
    }
    this.progress.bytesTotal = bytes;
    this.progress.filesTotal = files;
  }

  private async writeHead(): Promise<void> {
    // The head may be a small file waiting for its bundle to fill up.
    this.flushSmall();
    const entry = await this.pendingEntries[0]!;
    this.pendingEntries.shift();
    if (entry) await this.tree.add(entry);
  }

  /** True when `id` is new to the archive (and records it as stored). */
  private claim(id: Buffer): boolean {
    const key = idKey(id);
    if (this.known.has(key)) return false;
    this.known.add(key);
    this.newBlobs++;
    return true;
  }

  private async store(blobs: readonly SealedBlob[]): Promise<void> {
    for (const blob of blobs) {
      this.garbage.spend(blob.sealed.length);
      if (!this.claim(blob.id)) continue;
      await (blob.type === BlobType.Data ? this.dataPacks : this.metaPacks).add(blob);
    }
  }

  /**
   * A file with several names (st_nlink > 1) is stored under the first name met; the
   * later ones become `hardlink` entries naming it, so a restore links them again.
   */
  private entryOrLink(source: SourceEntry, parent: TreeEntry | undefined): Promise<TreeEntry | undefined> {
    const { stats } = source;
    if (!stats.isFile() || stats.nlink === undefined || stats.nlink < 2n || stats.ino === undefined) {
      return this.entryFor(source, parent);
    }
    const key = `${stats.dev}:${stats.ino}`;
    const first = this.inodes.get(key);
    if (first === undefined) {
      const entry = this.entryFor(source, parent);
      this.inodes.set(key, { path: source.path, entry });
      return entry;
    }
    return this.hardLink(source, first, parent);
  }

  private async hardLink(
    source: SourceEntry,
    first: { path: string; entry: Promise<TreeEntry | undefined> },
    parent: TreeEntry | undefined,
  ): Promise<TreeEntry | undefined> {
    // The first name was left out (it vanished, or may not be read): this one stands alone.
    if ((await first.entry.catch(() => undefined)) === undefined) return this.entryFor(source, parent);
    const { stats } = source;
    this.counts.files++;
    this.progress.add(0, 1);
    return {
      path: source.path,
      type: 'hardlink',
      target: first.path,
      mode: Number(stats.mode & 0o7777n),
      mtime: stats.mtimeNs.toString(),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
    };
  }

  private async entryFor(source: SourceEntry, parent: TreeEntry | undefined): Promise<TreeEntry | undefined> {
    const stats = source.stats;
    const base = {
      path: source.path,
      mode: Number(stats.mode & 0o7777n),
      mtime: stats.mtimeNs.toString(),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
    };
    if (stats.isDirectory()) {
      this.counts.dirs++;
      return { ...base, type: 'dir' };
    }
    if (stats.isSymbolicLink()) {
      this.counts.symlinks++;
      return { ...base, type: 'symlink', target: source.target! };
    }
    if (!stats.isFile()) {
      this.skip(source.path, `a ${specialKind(stats)} (not stored)`);
      return undefined;
    }
    const ctime = stats.ctimeNs.toString();
    const size = Number(stats.size);
    const stored = await this.fileContent(source, size, base.mtime, ctime, parent);
    if (typeof stored === 'string') {
      this.skip(source.path, `cannot read the file (${stored})`);
      return undefined;
    }
    this.counts.files++;
    this.counts.logicalBytes += stored.size;
    this.progress.add(0, 1);
    return {
      ...base,
      type: 'file',
      ctime,
      size: stored.size,
      ...(stats.nlink !== undefined && stats.nlink > 1n ? { nlink: Number(stats.nlink) } : {}),
      ...(hasHoles(stats) ? { sparse: true as const } : {}),
      ...(stored.content ? { content: stored.content } : {}),
    };
  }

  private async fileContent(
    source: SourceEntry,
    size: number,
    mtime: string,
    ctime: string,
    parent: TreeEntry | undefined,
  ): Promise<StoredFile | string> {
    const parentFile = parent?.type === 'file' ? parent : undefined;
    const relation = isRelationPath(source.path);
    if (size === 0) return { size: 0 };
    // Unchanged by size, mtime and ctime (nanoseconds): not read again, relation files
    // included, as pgBackRest trusts timestamps (PostgreSQL writes move mtime). A source
    // without real ctimes (a tar) gives none that match, so everything is read there.
    if (
      !this.options.force &&
      parentFile &&
      parentFile.size === size &&
      parentFile.mtime === mtime &&
      parentFile.ctime === ctime &&
      parentFile.content
    ) {
      this.progress.add(size);
      return { content: parentFile.content, size };
    }
    if (size < this.archive.config.smallFileMax) return this.smallFile(source, parentFile);
    if (relation) return this.pagedFile(source, size, parentFile);
    return this.chunkedFile(source, parentFile);
  }

  private smallFile(source: SourceEntry, parent: TreeEntry | undefined): Promise<StoredFile | string> {
    const parentContent = parent?.content;
    const parentHash =
      parentContent && 'small' in parentContent ? Buffer.from(parentContent.small.hash, 'hex') : undefined;
    // Each small file leaves a few KiB of garbage on this thread (stats, promises,
    // entries) and little sealed data: count it, or the heap grows over many files.
    this.garbage.spend(SMALL_FILE_GARBAGE);
    return new Promise((resolve, reject) => {
      this.smallBatch.push({
        path: source.absolute,
        slice: sliceOf(source),
        ...(parentHash ? { parentHash, parentContent: parentContent! } : {}),
        resolve,
        reject,
      });
      const bytes = this.smallBatch.length * this.archive.config.smallFileMax;
      if (this.smallBatch.length >= SMALL_FILES_PER_TASK || bytes >= 4 * this.archive.config.bundleSize) {
        this.flushSmall();
      }
    });
  }

  private flushSmall(): void {
    const batch = this.smallBatch;
    if (batch.length === 0) return;
    this.smallBatch = [];
    const work = this.slots.use(async () => {
      const result = await this.pool.run<SmallResult>({
        kind: 'small',
        files: batch.map((f) => ({
          path: f.path,
          ...f.slice,
          ...(f.parentHash ? { parentHash: f.parentHash } : {}),
        })),
      });
      await this.store(result.bundles);
      for (let i = 0; i < batch.length; i++) {
        const file = batch[i]!;
        const done = result.files[i]!;
        if (done.missing) {
          file.resolve(done.why);
          continue;
        }
        this.counts.bytesRead += done.size;
        this.progress.add(done.size);
        if (done.size === 0) file.resolve({ size: 0 });
        else if (done.bundle < 0) file.resolve({ content: file.parentContent!, size: done.size });
        else {
          const blob = result.bundles[done.bundle]!.id.toString('hex');
          file.resolve({
            content: { small: { blob, offset: done.offset, hash: done.hash.toString('hex') } },
            size: done.size,
          });
        }
      }
    });
    work.catch((error: unknown) => {
      for (const file of batch) file.reject(error);
    });
  }

  private async pagedFile(
    source: SourceEntry,
    size: number,
    parent: TreeEntry | undefined,
  ): Promise<StoredFile | string> {
    const { pageSize, regionPages } = this.archive.config;
    const regionBytes = pageSize * regionPages;
    const parentMaps = parent?.content && 'pages' in parent.content ? parent.content.pages : [];
    const regions = Math.ceil(size / regionBytes);
    const results = await Promise.all(
      Array.from({ length: regions }, (_, r) =>
        this.slots.use(async () => {
          throwIfAborted(this.signal);
          const parentMapHex = parentMaps[r];
          const parentMapId = parentMapHex ? Buffer.from(parentMapHex, 'hex') : undefined;
          const parentMap = parentMapId
            ? await readMetadataBlob(
                this.archive,
                this.metadata,
                parentMapId,
                `snapshot ${this.parent!.id} file ${source.path}`,
                this.signal,
              )
            : undefined;
          const offset = r * regionBytes;
          let result: PagesResult;
          try {
            result = await this.pool.run<PagesResult>(
              {
                kind: 'pages',
                path: source.absolute,
                ...(source.base === undefined ? {} : { base: source.base }),
                offset,
                length: Math.min(regionBytes, size - offset),
                ...(parentMapId && parentMap ? { parentMapId, parentMap } : {}),
              },
              parentMap ? [parentMap] : [],
            );
          } catch (error) {
            const why = skipReason(error);
            if (why === undefined) throw error;
            return why;
          }
          await this.store(result.blobs);
          if (result.mapBlob) await this.store([result.mapBlob]);
          this.counts.bytesRead += result.bytesRead;
          this.progress.add(result.bytesRead);
          return { id: result.mapId.toString('hex'), length: result.bytesRead };
        }),
      ),
    );
    const skipped = results.find((r) => typeof r === 'string');
    if (skipped !== undefined) return skipped;
    const maps = results as { id: string; length: number }[];
    return { content: { pages: maps.map((m) => m.id) }, size: maps.reduce((sum, m) => sum + m.length, 0) };
  }

  private async chunkedFile(
    source: SourceEntry,
    parent: TreeEntry | undefined,
  ): Promise<StoredFile | string> {
    const known = await this.parentChunkIds(source.path, parent);
    const chunks: ChunkRef[] = [];
    let start = 0;
    for (;;) {
      const result = await this.slots.use(async () => {
        throwIfAborted(this.signal);
        let result: ChunksResult;
        try {
          result = await this.pool.run<ChunksResult>({
            kind: 'chunks',
            path: source.absolute,
            ...sliceOf(source),
            start,
            softEnd: start + CHUNK_TASK_BYTES,
            ...(known ? { known } : {}),
          });
        } catch (error) {
          const why = skipReason(error);
          if (why === undefined) throw error;
          return why;
        }
        await this.store(result.blobs);
        this.counts.bytesRead += result.end - start;
        this.progress.add(result.end - start);
        return result;
      });
      if (typeof result === 'string') return result;
      chunks.push(...result.chunks);
      start = result.end;
      if (result.eof) break;
    }
    const size = chunks.reduce((sum, c) => sum + c.length, 0);
    if (size === 0) return { size: 0 };
    if (chunks.length <= INLINE_CHUNKS) {
      return { content: { chunks: chunks.map((c) => [c.id.toString('hex'), c.length] as const) }, size };
    }
    const maps: string[] = [];
    let current: ChunkRef[] = [];
    const cut = async () => {
      const blob = await sealBlob(
        this.archive.keys.encryption,
        this.archive.hash,
        BlobType.Map,
        encodeChunkMap(current),
        // Ids and lengths: nothing to compress.
        Compression.None,
      );
      maps.push(blob.id.toString('hex'));
      await this.store([blob]);
      current = [];
    };
    for (const chunk of chunks) {
      current.push(chunk);
      if (endsChunkMap(chunk.id, current.length)) await cut();
    }
    if (current.length > 0) await cut();
    return { content: { chunkMaps: maps }, size };
  }

  /** The parent's chunk ids for the same path, which workers need not seal again (shared by every task of the file). */
  private async parentChunkIds(path: string, parent: TreeEntry | undefined): Promise<Buffer | undefined> {
    const content = parent?.content;
    if (!content) return undefined;
    if ('chunks' in content) return sharedSortedIds(content.chunks.map(([id]) => Buffer.from(id, 'hex')));
    if (!('chunkMaps' in content)) return undefined;
    const ids: Buffer[] = [];
    for (const map of content.chunkMaps) {
      const plain = await readMetadataBlob(
        this.archive,
        this.metadata,
        Buffer.from(map, 'hex'),
        `snapshot ${this.parent!.id} file ${path}`,
        this.signal,
      );
      for (const chunk of decodeChunkMap(plain)) ids.push(chunk.id);
    }
    return ids.length > 0 ? sharedSortedIds(ids) : undefined;
  }
}

/** Where a member of a container sits in it; nothing for a file of its own. */
function sliceOf(source: SourceEntry): { base?: number; size?: number } {
  return source.base === undefined ? {} : { base: source.base, size: Number(source.stats.size) };
}

/**
 * Whether a file has holes: fewer 512-byte blocks allocated than its size needs. A tar
 * member (no `blocks`) has none. Small files that fit inside their inode report 0
 * blocks, so a file needs a whole filesystem block of size to count.
 */
function hasHoles(stats: SourceEntry['stats']): boolean {
  if (stats.blocks === undefined) return false;
  return stats.size >= 4096n && stats.blocks * 512n < stats.size;
}
