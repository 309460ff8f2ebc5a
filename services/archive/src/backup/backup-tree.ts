import { lstat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Semaphore } from '../concurrency/semaphore.js';
import { ArchiveError, throwIfAborted } from '../errors.js';
import { VANISHED } from '../fs/skip-reason.js';
import { specialKind } from '../fs/special-kind.js';
import { type SkipListener, type SourceEntry, walkSource } from '../fs/walk-source.js';
import { type ProgressListener, ProgressReporter } from '../progress.js';
import type { Archive } from '../repository/archive.js';
import { withSharedLock } from '../repository/with-lock.js';
import { findSnapshot } from '../snapshot/find-snapshot.js';
import { listSnapshots, type Snapshot } from '../snapshot/manifest.js';
import { comparePaths, type TreeEntry } from '../snapshot/tree-entry.js';
import { type MetadataIndex, readMetadataBlob, TreeWriter } from '../snapshot/tree-io.js';
import { workSetup } from '../threads/work-context.js';
import { WorkerPool } from '../threads/worker-pool.js';
import { BlobSink } from './blob-sink.js';
import { commitSnapshot } from './commit-snapshot.js';
import { loadDedupIndex, usableParent } from './dedup-index.js';
import { FileContents } from './file-content.js';
import { HeldEntries } from './held-entries.js';
import type { PageChecksums } from './page-checksums.js';
import { ParentBlobs } from './parent-blobs.js';
import { readParentTree } from './parent-tree.js';
import { StorableEntries } from './storable-entries.js';

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
  /**
   * Worker threads. Default: one per core, at most 4. A function is asked when the
   * first file is read (undefined: the default), for a source that knows its work only
   * once its first entries are out (`WorkerPool`).
   */
  readonly workers?: number | (() => number | undefined);
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
  /**
   * A file that vanished before it was read is left out silently, not counted: a
   * running database's files, whose removal its WAL replays. Default: false.
   */
  readonly ignoreVanished?: boolean;
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
  /**
   * Entries known only once every entry of `source` is read (a PostgreSQL backup's
   * backup_label, pg_control and WAL, which exist once the backup window closes):
   * called then, once; their files are read next and their entries take their places
   * in the tree (none may be among the source's). `tags` are added to the snapshot's.
   */
  readonly late?: () => Promise<LateEntries>;
  /** Check relation files' pages against PostgreSQL's data checksums as they are read. Default: no check. */
  readonly pageChecksums?: PageChecksums;
}

/** What `BackupTreeOptions.late` gives. */
export interface LateEntries {
  readonly entries: readonly SourceEntry[];
  readonly tags?: Readonly<Record<string, string>>;
}

/** Tree entries waiting for their content before the walk pauses. */
const MAX_PENDING_ENTRIES = 1024;

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
  private readonly blobs: BlobSink;
  private readonly contents: FileContents;
  private readonly tree: TreeWriter;
  private readonly progress: ProgressReporter;
  private readonly parentBlobs: ParentBlobs;
  private metadata: MetadataIndex = new Map();
  /** Blobs whose packs are gone (see `loadDedupIndex`). */
  private lost: ReadonlySet<string> = new Set();
  /** Whether a blob (`idKey`) is one the archive does not have. */
  private missing: (key: string) => boolean = () => false;
  /** The first name met of each file with several names (`dev:ino`), and its entry. */
  private readonly inodes = new Map<string, { path: string; entry: Promise<TreeEntry | undefined> }>();
  private readonly pendingEntries: Promise<TreeEntry | undefined>[] = [];
  /** With late entries: the source's, finished, waiting for them. */
  private readonly held: HeldEntries | undefined;
  private readonly signal: AbortSignal | undefined;
  private counts = { files: 0, dirs: 0, symlinks: 0, skipped: 0, logicalBytes: 0, bytesRead: 0 };

  constructor(
    private readonly archive: Archive,
    private readonly root: string,
    private readonly parent: Snapshot | undefined,
    private readonly options: BackupTreeOptions,
  ) {
    this.signal = options.signal;
    this.held = options.late === undefined ? undefined : new HeldEntries();
    this.pool = new WorkerPool(workSetup(archive), options.workers);
    this.blobs = new BlobSink(archive, this.signal);
    this.tree = new TreeWriter(archive, this.blobs.metaPacks, (id) => this.blobs.claim(id));
    this.progress = new ProgressReporter(options.onProgress);
    this.parentBlobs = new ParentBlobs(archive, `snapshot ${parent?.id}`, this.signal);
    this.contents = new FileContents(
      {
        archive,
        pool: this.pool,
        // Enough tasks in flight to keep every worker busy while results are packed.
        slots: new Semaphore(this.pool.size + 2),
        blobs: this.blobs,
        signal: this.signal,
        onRead: (bytes) => {
          this.counts.bytesRead += bytes;
          this.progress.add(bytes);
        },
        readParentMap: (id, path) => this.readParentMap(id, path),
        readParentBlobs: (ids, path) => this.parentBlobs.read(ids, path),
        ...(options.pageChecksums === undefined ? {} : { pageChecksums: options.pageChecksums }),
      },
      options.force ?? false,
      (bytes) => this.progress.add(bytes),
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.held?.close();
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
    this.contents.flushSmall();
    while (this.pendingEntries.length > 0) await this.writeHead();
    const lateTags = await this.addLate();
    const treeIds = await this.tree.finish();
    await this.blobs.flush();
    await this.options.beforeCommit?.();
    throwIfAborted(this.signal);
    const snapshot = await commitSnapshot(
      this.archive,
      {
        version: 1,
        time: new Date(started).toISOString(),
        hostname: this.options.hostname ?? hostname(),
        paths: [this.root],
        tags: { ...tags, ...lateTags },
        parent: this.parent?.id ?? null,
        tree: treeIds,
        stats: {
          ...this.counts,
          newBlobs: this.blobs.newBlobs,
          newBytesStored: this.blobs.storedBytes,
          durationMs: 0,
        },
      },
      started,
      this.signal,
    );
    this.progress.finish();
    return snapshot;
  }

  /**
   * The late entries (`BackupTreeOptions.late`), once the source's are all stored: their
   * files read, then every entry written to the tree in order. Checked again in that
   * order for what no restore could take. Returns the tags they add.
   */
  private async addLate(): Promise<Readonly<Record<string, string>>> {
    if (this.options.late === undefined || this.held === undefined) return {};
    throwIfAborted(this.signal);
    const late = await this.options.late();
    // Counted now, as they were not there to count before: the total is what was read.
    if (this.progress.bytesTotal !== undefined) {
      for (const source of late.entries) {
        if (!source.stats.isFile()) continue;
        this.progress.bytesTotal += Number(source.stats.size);
        this.progress.filesTotal = (this.progress.filesTotal ?? 0) + 1;
      }
    }
    // Each a file of its own: a hard link would name a path that may come later in the tree.
    const entries = late.entries.map((source) => {
      const entry = this.entryFor(source, undefined);
      entry.catch(() => {});
      return entry;
    });
    this.contents.flushSmall();
    const stored = (await Promise.all(entries)).filter((entry) => entry !== undefined);
    const storable = new StorableEntries(this.root);
    for await (const entry of this.held.merged(stored)) {
      storable.checkEntry(entry);
      await this.tree.add(entry);
    }
    return late.tags ?? {};
  }

  /**
   * Metadata locations (to read the parent's trees and maps) and, while there are not
   * too many, every blob id in the archive (to store nothing twice), in one pass; only
   * packs that exist count (see `loadDedupIndex`).
   */
  private async loadIndex(): Promise<void> {
    const index = await loadDedupIndex(this.archive, this.options.knownBlobsMax ?? 2_000_000, this.signal);
    this.blobs.knowArchive(index.known);
    this.metadata = index.metadata;
    this.lost = index.lost;
    const { known, lost, complete } = index;
    if (complete) this.parentBlobs.useTable(known, index.indexes);
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
    this.contents.flushSmall();
    const entry = await this.pendingEntries[0]!;
    this.pendingEntries.shift();
    if (entry === undefined) return;
    if (this.held) await this.held.add(entry);
    else await this.tree.add(entry);
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
      this.skip(source.path, `a ${specialKind(stats.mode)} (not stored)`);
      return undefined;
    }
    const ctime = stats.ctimeNs.toString();
    const size = Number(stats.size);
    const stored = await this.contents.of(source, size, base.mtime, ctime, parent);
    if (typeof stored === 'string') {
      if (stored !== VANISHED || !this.options.ignoreVanished) {
        this.skip(source.path, `cannot read the file (${stored})`);
      }
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
