import { Blake3Hasher } from '@napi-rs/blake-hash';
import { idKey } from '../blob-index/blob-location.js';
import { isArchiveError, throwIfAborted } from '../errors.js';
import type { BlobEntry } from '../pack/blob-entry.js';
import { decodePackHeader, TRAILER_BYTES } from '../pack/pack-header.js';
import { packName } from '../pack/pack-writer.js';
import { storedPacks } from '../pack/stored-packs.js';
import { type ProgressListener, ProgressReporter } from '../progress.js';
import type { Archive } from '../repository/archive.js';
import { readAll } from '../repository/stream-bytes.js';
import { withReadLock } from '../repository/with-lock.js';
import { decodeChunkMap } from '../snapshot/chunk-map.js';
import { readSnapshots, type Snapshot } from '../snapshot/manifest.js';
import { decodePageMap } from '../snapshot/page-map.js';
import { TreeValidator } from '../snapshot/tree-entry.js';
import { loadMetadataIndex, type MetadataIndex, readMetadataBlob, readTree } from '../snapshot/tree-io.js';
import type { WriteResult } from '../threads/tasks.js';
import { workSetup } from '../threads/work-context.js';
import { WorkerPool } from '../threads/worker-pool.js';
import type { WalGap } from '../wal/wal-chain.js';
import { verifyWal } from './verify-wal.js';

export interface VerifyOptions {
  /** Read every pack and open every blob (authentication, decompression, id). Default: false. */
  readonly readData?: boolean;
  readonly workers?: number;
  readonly onProgress?: ProgressListener;
  readonly signal?: AbortSignal;
  readonly lockWaitMs?: number;
}

/** One thing wrong, with the snapshot and file, or the WAL stream, it affects when known. */
export interface VerifyProblem {
  readonly snapshot?: string;
  readonly file?: string;
  /** A WAL stream (`<component>.<systemIdentifier>`). */
  readonly stream?: string;
  /** WAL missing from the stream's chain: what cannot be restored to. */
  readonly walGap?: WalGap;
  readonly message: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly snapshots: number;
  readonly packs: number;
  /** Blobs opened and checked (with `readData`). */
  readonly blobsRead: number;
  readonly bytesRead: number;
  /** WAL objects checked: headers opened, and with `readData` bodies too. */
  readonly walObjects: number;
  readonly problems: VerifyProblem[];
  /** Ids (hex) of the blobs found damaged by reading data, for `repairArchive`. */
  readonly damagedBlobs: string[];
}

/** Referenced blobs checked against the index per batch (bounds memory). */
const REFS_PER_BATCH = 500_000;
/**
 * Problems reported per snapshot before the rest are summarized: enough to name every
 * file of a damaged bundle (small files share bundles) or a lost pack.
 */
const PROBLEMS_PER_SNAPSHOT = 1000;

/**
 * Checks the archive: every snapshot's tree is readable and well-formed, every blob it
 * references is in the index, in a pack that exists. With `readData`, every pack is
 * read whole: its name must be the BLAKE3 of its bytes, its header must open and
 * agree with the index, and every blob must open and match its id; a damaged blob is
 * reported with the snapshots and files that use it. Then the WAL (verify-wal.ts).
 */
export async function verifyArchive(archive: Archive, options: VerifyOptions = {}): Promise<VerifyResult> {
  return withReadLock(archive, 'verify', options, (signal) =>
    new Verifier(archive, { ...options, signal }).run(),
  );
}

class Verifier {
  private readonly problems: VerifyProblem[] = [];
  private readonly progress: ProgressReporter;
  private readonly signal: AbortSignal | undefined;
  /** Pack ids that exist in storage, with their sizes. */
  private packs: ReadonlyMap<string, number> = new Map();
  /** Blobs found damaged by reading data: id key → reason. */
  private readonly bad = new Map<string, string>();
  private metadata: MetadataIndex = new Map();
  private blobsRead = 0;
  private bytesRead = 0;

  constructor(
    private readonly archive: Archive,
    private readonly options: VerifyOptions,
  ) {
    this.signal = options.signal;
    this.progress = new ProgressReporter(options.onProgress);
  }

  async run(): Promise<VerifyResult> {
    this.packs = await storedPacks(this.archive.backend, this.signal);
    const indexes = await this.archive.readIndexes(this.signal);
    for (const name of indexes.damaged) {
      this.archive.reported(name);
      this.problems.push({
        message: `index object ${name} fails authentication (\`pullback repair index\` rebuilds the index from the packs)`,
      });
    }
    this.metadata = await loadMetadataIndex(this.archive, this.signal, indexes.live);
    if (this.options.readData) await this.readAllPacks();
    const { snapshots, damaged } = await readSnapshots(this.archive, this.signal);
    for (const id of damaged) {
      this.archive.reported(`snapshots/${id}`);
      this.problems.push({ snapshot: id, message: `snapshot ${id.slice(0, 12)} fails authentication` });
    }
    for (const snapshot of snapshots) await this.checkSnapshot(snapshot);
    const wal = await verifyWal(this.archive, {
      readData: this.options.readData ?? false,
      signal: this.signal,
    });
    this.problems.push(...wal.problems);
    this.bytesRead += wal.bytesRead;
    this.progress.finish();
    return {
      ok: this.problems.length === 0,
      damagedBlobs: [...this.bad.keys()].map((key) => Buffer.from(key, 'latin1').toString('hex')),
      snapshots: snapshots.length + damaged.length,
      packs: this.packs.size,
      blobsRead: this.blobsRead,
      bytesRead: this.bytesRead,
      walObjects: wal.objects,
      problems: this.problems,
    };
  }

  /** Reads each indexed pack whole and opens every blob in it (in the worker threads). */
  private async readAllPacks(): Promise<void> {
    const indexed = new Map<string, BlobEntry[]>();
    for await (const index of this.archive.indexFiles(this.signal)) {
      for (const pack of index.packs) indexed.set(pack.id, [...pack.entries]);
    }
    this.progress.bytesTotal = [...indexed.keys()].reduce((sum, id) => sum + (this.packs.get(id) ?? 0), 0);
    const pool = new WorkerPool(workSetup(this.archive), this.options.workers);
    const markAll = (entries: readonly BlobEntry[], reason: string) => {
      for (const entry of entries) this.bad.set(idKey(entry.id), reason);
    };
    try {
      const running = new Set<Promise<void>>();
      for (const [pack, entries] of indexed) {
        throwIfAborted(this.signal);
        const work = (async () => {
          if (!this.packs.has(pack)) return; // reported per snapshot as a missing pack
          const body = await readAll(
            await this.archive.backend.load(packName(pack), undefined, this.signalOption()),
          );
          this.bytesRead += body.length;
          this.progress.add(body.length);
          const hasher = new Blake3Hasher();
          hasher.update(body);
          if (hasher.digest('hex') !== pack) {
            this.problems.push({ message: `pack ${pack.slice(0, 16)}: content does not match its name` });
          }
          const headerLength =
            body.length >= TRAILER_BYTES ? body.readUInt32LE(body.length - TRAILER_BYTES) : -1;
          const header =
            headerLength > 0 && headerLength <= body.length - TRAILER_BYTES
              ? decodePackHeader(
                  this.archive.keys.encryption,
                  body.subarray(body.length - TRAILER_BYTES - headerLength, body.length - TRAILER_BYTES),
                )
              : undefined;
          if (!header) {
            this.problems.push({ message: `pack ${pack.slice(0, 16)}: header fails authentication` });
          } else {
            const inHeader = new Set(header.map((e) => `${idKey(e.id)}:${e.offset}:${e.length}`));
            for (const entry of entries) {
              if (!inHeader.has(`${idKey(entry.id)}:${entry.offset}:${entry.length}`)) {
                this.bad.set(idKey(entry.id), `index and header of pack ${pack.slice(0, 16)} disagree`);
              }
            }
          }
          const result = await pool.run<WriteResult>(
            {
              kind: 'write',
              sealed: body,
              blobs: entries.map((entry) => ({
                at: entry.offset,
                length: entry.length,
                id: entry.id,
                compression: entry.compression,
                plainLength: entry.plainLength,
                writes: [],
              })),
            },
            [body],
          );
          this.blobsRead += entries.length;
          for (const bad of result.corrupt) {
            this.bad.set(idKey(bad.id), `blob in pack ${pack.slice(0, 16)}: ${bad.reason}`);
          }
        })().catch((error: unknown) => {
          if (isArchiveError(error, 'aborted')) throw error;
          this.problems.push({ message: `pack ${pack.slice(0, 16)}: ${(error as Error).message}` });
          markAll(entries, `pack ${pack.slice(0, 16)} unreadable`);
        });
        running.add(work);
        const done = () => {
          running.delete(work);
        };
        work.then(done, done);
        while (running.size >= 3) await Promise.race(running);
      }
      await Promise.all(running);
    } finally {
      await pool.close();
    }
  }

  private signalOption(): { signal?: AbortSignal } {
    return this.signal ? { signal: this.signal } : {};
  }

  /** Walks one snapshot's tree and checks every blob it references. */
  private async checkSnapshot(snapshot: Snapshot): Promise<void> {
    const id = snapshot.id.slice(0, 12);
    let reported = 0;
    const report = (problem: VerifyProblem) => {
      reported++;
      if (reported <= PROBLEMS_PER_SNAPSHOT) this.problems.push(problem);
    };
    // Every file that uses a blob, so that a problem names them all (a bundle blob
    // holds many small files).
    let refs = new Map<string, string[]>();
    let refCount = 0;
    const flush = async () => {
      const batch = refs;
      refs = new Map();
      refCount = 0;
      if (batch.size === 0) return;
      const found = await this.archive.locateIds(batch, this.signal);
      for (const [key, files] of batch) {
        const hex = Buffer.from(key, 'latin1').toString('hex').slice(0, 16);
        const location = found.get(key) ?? this.metadata.get(key);
        let message: string | undefined;
        if (!location) message = `blob ${hex} is not in the index`;
        else if (!this.packs.has(location.pack))
          message = `blob ${hex}: pack ${location.pack.slice(0, 16)} is missing`;
        else if (this.bad.has(key)) message = `blob ${hex}: ${this.bad.get(key)}`;
        if (message) for (const file of files) report({ snapshot: id, file, message });
      }
    };
    const reference = async (hex: string | Buffer, file: string) => {
      const key = idKey(typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex);
      const files = refs.get(key);
      if (!files) refs.set(key, [file]);
      else if (files[files.length - 1] !== file) files.push(file);
      else return;
      if (++refCount >= REFS_PER_BATCH) await flush();
    };
    const readMap = (mapId: string, file: string) =>
      readMetadataBlob(
        this.archive,
        this.metadata,
        Buffer.from(mapId, 'hex'),
        `snapshot ${id} file ${file}`,
        this.signal,
      );
    try {
      for (const treeId of snapshot.tree) await reference(treeId, '(tree)');
      const validator = new TreeValidator();
      for await (const entry of readTree(
        this.archive,
        this.metadata,
        snapshot.tree,
        snapshot.id,
        this.signal,
      )) {
        throwIfAborted(this.signal);
        validator.check(entry, snapshot.id);
        const content = entry.content;
        if (!content) continue;
        try {
          if ('small' in content) await reference(content.small.blob, entry.path);
          else if ('chunks' in content)
            for (const [chunk] of content.chunks) await reference(chunk, entry.path);
          else if ('chunkMaps' in content) {
            for (const map of content.chunkMaps) {
              await reference(map, entry.path);
              for (const chunk of decodeChunkMap(await readMap(map, entry.path)))
                await reference(chunk.id, entry.path);
            }
          } else {
            for (const map of content.pages) {
              await reference(map, entry.path);
              for (const blob of decodePageMap(await readMap(map, entry.path)).blobs)
                await reference(blob, entry.path);
            }
          }
        } catch (error) {
          if (isArchiveError(error, 'aborted')) throw error;
          report({ snapshot: id, file: entry.path, message: (error as Error).message });
        }
      }
      await flush();
    } catch (error) {
      if (isArchiveError(error, 'aborted')) throw error;
      report({ snapshot: id, message: `tree unreadable: ${(error as Error).message}` });
    }
    if (reported > PROBLEMS_PER_SNAPSHOT) {
      this.problems.push({ snapshot: id, message: `${reported - PROBLEMS_PER_SNAPSHOT} more problems` });
    }
  }
}
