import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn, WalObjectEncoder } from '@pullback/archive';
import { partialFileContentBytes } from './partial-content.js';
import { listSpool, type SpoolFile } from './spool-files.js';
import type { WalArchive } from './wal-archive.js';

export interface SpoolUploaderOptions {
  readonly archive: WalArchive;
  /** `<component>.<systemIdentifier>`. */
  readonly stream: string;
  readonly spoolDir: string;
  readonly segmentSize: number;
}

/** Where a spool's WAL reaches, as the uploader last saw and stored it. */
export interface SpoolPosition {
  readonly timeline: number;
  readonly lsn: string;
  /** When the archive last took WAL from this spool. */
  readonly at: string;
}

/**
 * Stores a spool's WAL files in the archive: each complete segment and history file
 * (then removes it: a file leaves the spool only once stored), a partial segment
 * of an older timeline (finished, then removed), and the newest partial whenever it
 * grew (kept: the receiver resumes from it). Files are read in pieces as they are
 * compressed: no segment is held whole in memory, only its compressed object.
 */
export class SpoolUploader {
  /** The end of the WAL stored from this spool. */
  archived: SpoolPosition | undefined;
  /** The end of the WAL in the spool (the newest partial's received bytes). */
  flushed: SpoolPosition | undefined;
  private readonly firstSeen = new Map<string, string>();
  private partialSeen: { file: string; bytes: number } | undefined;
  /** For finding where a partial's content ends, page by page. */
  private readonly piece = Buffer.alloc(READ_CHUNK);
  /** Builds every object this uploader stores in one kept buffer: its stores never overlap. */
  private encoder: WalObjectEncoder | undefined;

  constructor(private readonly options: SpoolUploaderOptions) {}

  /**
   * Stores one file's content through the kept encoder. A store that failed may have
   * left its body with a backend still letting go of it: the next store gets a new encoder.
   */
  private async store(
    name: string,
    file: FileHandle,
    length: number,
    partial: boolean,
    times: { firstReceivedAt: string; lastReceivedAt: string },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const encoder = this.encoder ?? new WalObjectEncoder(this.options.segmentSize);
    this.encoder = undefined;
    await this.options.archive.storeFile(
      this.options.stream,
      name,
      file,
      length,
      { segmentSize: this.options.segmentSize, partial, ...times },
      signal === undefined ? { encoder } : { signal, encoder },
    );
    this.encoder = encoder;
  }

  /**
   * One pass over the spool. `removeNewest`: the newest partial goes too, once stored
   * (the spool is being emptied, for another stream).
   */
  async storeSpool(options: { signal?: AbortSignal; removeNewest?: boolean } = {}): Promise<void> {
    const files = await listSpool(this.options.spoolDir, this.options.segmentSize);
    const newest = files.at(-1);
    for (const file of files) {
      options.signal?.throwIfAborted();
      const current = file === newest && file.kind === 'partial';
      if (current) await this.storePartial(file, options.signal);
      else await this.storeFinished(file, options.signal);
      if (current && options.removeNewest) await rm(join(this.options.spoolDir, file.file), { force: true });
    }
  }

  private async storeFinished(file: SpoolFile, signal: AbortSignal | undefined): Promise<void> {
    const path = join(this.options.spoolDir, file.file);
    const handle = await open(path, 'r').catch(missingIsUndefined);
    if (handle === undefined) return;
    let bytes: number;
    const partial = file.kind === 'partial';
    try {
      const { size } = await handle.stat();
      bytes = partial ? await partialFileContentBytes(handle, size, 0, this.piece) : size;
      const times = await this.times(file, path);
      if (times === undefined) return;
      await this.store(file.name, handle, bytes, partial, times, signal);
    } finally {
      await handle.close();
    }
    await rm(path, { force: true });
    this.firstSeen.delete(file.name);
    if (file.kind !== 'history') this.advance(file, bytes, 'both');
  }

  /**
   * Stores the newest partial when it grew. Where its content ends is read from the page
   * holding the last known end (pg_receivewal only appends), up to the first page of
   * zeros; its content is then read again as it is compressed: no segment-sized buffer.
   * The file's mtime is no guide: it ticks coarsely, and a write in the same tick as a
   * read would go unseen.
   */
  private async storePartial(file: SpoolFile, signal: AbortSignal | undefined): Promise<void> {
    const path = join(this.options.spoolDir, file.file);
    const seen = this.partialSeen?.file === file.file ? this.partialSeen : undefined;
    // pg_receivewal may rename it to the complete segment meanwhile: then the next pass stores that.
    const handle = await open(path, 'r').catch(missingIsUndefined);
    if (handle === undefined) return;
    try {
      const size = Math.min((await handle.stat()).size, this.options.segmentSize);
      const bytes = await partialFileContentBytes(handle, size, seen?.bytes ?? 0, this.piece);
      this.advance(file, bytes, 'flushed');
      // Nothing new (an empty partial, just created or put there to resume from, holds nothing yet).
      if (bytes <= (seen?.bytes ?? 0)) return;
      const times = await this.times(file, path);
      if (times === undefined) return;
      await this.store(file.name, handle, bytes, true, times, signal);
      this.partialSeen = { file: file.file, bytes };
      this.advance(file, bytes, 'both');
    } finally {
      await handle.close();
    }
  }

  /** When the file's first byte arrived (as first seen by this uploader) and its last. */
  private async times(
    file: SpoolFile,
    path: string,
  ): Promise<{ firstReceivedAt: string; lastReceivedAt: string } | undefined> {
    const info = await stat(path).catch(missingIsUndefined);
    if (info === undefined) return undefined;
    const lastReceivedAt = info.mtime.toISOString();
    let firstReceivedAt = this.firstSeen.get(file.name);
    if (firstReceivedAt === undefined) {
      const born = info.birthtimeMs > 0 ? info.birthtime : info.mtime;
      firstReceivedAt = born.toISOString();
      this.firstSeen.set(file.name, firstReceivedAt);
    }
    return {
      firstReceivedAt,
      lastReceivedAt: lastReceivedAt < firstReceivedAt ? firstReceivedAt : lastReceivedAt,
    };
  }

  private advance(file: SpoolFile, bytes: number, which: 'flushed' | 'both'): void {
    const end = file.start + BigInt(bytes);
    const position = { timeline: file.timeline, lsn: formatLsn(end), at: new Date().toISOString() };
    const later = (known: SpoolPosition | undefined) =>
      known === undefined ||
      file.timeline > known.timeline ||
      (file.timeline === known.timeline && end >= parseLsn(known.lsn));
    if (later(this.flushed)) this.flushed = position;
    if (which === 'both' && later(this.archived)) this.archived = position;
  }
}

/** A partial is scanned in pieces of this size (a whole number of 8 KiB WAL pages). */
const READ_CHUNK = 256 * 1024;

function missingIsUndefined(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}
