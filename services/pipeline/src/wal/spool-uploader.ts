import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn, WalObjectEncoder } from '@pullback/archive';
import { partialContentBytes } from './partial-content.js';
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
 * grew (kept: the receiver resumes from it). One segment in memory at a time.
 */
export class SpoolUploader {
  /** The end of the WAL stored from this spool. */
  archived: SpoolPosition | undefined;
  /** The end of the WAL in the spool (the newest partial's received bytes). */
  flushed: SpoolPosition | undefined;
  private readonly firstSeen = new Map<string, string>();
  private partialSeen: { file: string; bytes: number } | undefined;
  private partialBuffer: Buffer | undefined;
  /** Builds every object this uploader stores in one kept buffer: its stores never overlap. */
  private encoder: WalObjectEncoder | undefined;

  constructor(private readonly options: SpoolUploaderOptions) {}

  /**
   * Stores one file's content through the kept encoder. A store that failed may have
   * left its body with a backend still letting go of it: the next store gets a new encoder.
   */
  private async store(
    name: string,
    content: Buffer,
    partial: boolean,
    times: { firstReceivedAt: string; lastReceivedAt: string },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const encoder = this.encoder ?? new WalObjectEncoder(this.options.segmentSize);
    this.encoder = undefined;
    await this.options.archive.store(
      this.options.stream,
      name,
      content,
      { segmentSize: this.options.segmentSize, partial, ...times },
      signal === undefined ? { encoder } : { signal, encoder },
    );
    this.encoder = encoder;
  }

  /** One segment-sized buffer for reading partials, kept: a partial is read about every 300 ms. */
  private keptBuffer(): Buffer {
    this.partialBuffer ??= Buffer.alloc(this.options.segmentSize);
    return this.partialBuffer;
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
    const content = await this.readWhole(path);
    if (content === undefined) return;
    const partial = file.kind === 'partial';
    const bytes = partial ? partialContentBytes(content) : content.length;
    const times = await this.times(file, path);
    if (times === undefined) return;
    await this.store(file.name, partial ? content.subarray(0, bytes) : content, partial, times, signal);
    await rm(path, { force: true });
    this.firstSeen.delete(file.name);
    if (file.kind !== 'history') this.advance(file, bytes, 'both');
  }

  private async storePartial(file: SpoolFile, signal: AbortSignal | undefined): Promise<void> {
    const path = join(this.options.spoolDir, file.file);
    const seen = this.partialSeen?.file === file.file ? this.partialSeen : undefined;
    // pg_receivewal may rename it to the complete segment meanwhile: then the next pass stores that.
    const content = await this.readPartial(path, seen?.bytes ?? 0);
    if (content === undefined) return;
    const bytes = partialContentBytes(content, seen?.bytes ?? 0);
    this.advance(file, bytes, 'flushed');
    // Nothing new (an empty partial, just created or put there to resume from, holds nothing yet).
    if (bytes <= (seen?.bytes ?? 0)) return;
    const times = await this.times(file, path);
    if (times === undefined) return;
    await this.store(file.name, content.subarray(0, bytes), true, times, signal);
    this.partialSeen = { file: file.file, bytes };
    this.advance(file, bytes, 'both');
  }

  /**
   * Reads a partial into one buffer kept for it, from the page holding byte `from`
   * (what came before is in the buffer already: pg_receivewal only appends) up to the
   * first page of zeros. It is read every few hundred milliseconds: neither a new
   * 16 MiB buffer each time nor a read of its unwritten zeros. The file's mtime is no
   * guide: it ticks coarsely, and a write in the same tick as a read would go unseen.
   */
  private async readPartial(path: string, from: number): Promise<Buffer | undefined> {
    const handle = await open(path, 'r').catch(missingIsUndefined);
    if (handle === undefined) return undefined;
    try {
      const buffer = this.keptBuffer();
      let end = Math.floor(from / WAL_PAGE) * WAL_PAGE;
      while (end < buffer.length) {
        const { bytesRead } = await handle.read(buffer, end, Math.min(READ_CHUNK, buffer.length - end), end);
        if (bytesRead === 0) break;
        end += bytesRead;
        if (endsInZeroPage(buffer, end - bytesRead, end)) break;
      }
      return buffer.subarray(0, end);
    } finally {
      await handle.close();
    }
  }

  /** Reads a finished file into the kept buffer (history files, smaller, into their own). */
  private async readWhole(path: string): Promise<Buffer | undefined> {
    const handle = await open(path, 'r').catch(missingIsUndefined);
    if (handle === undefined) return undefined;
    try {
      const { size } = await handle.stat();
      const buffer = size <= this.options.segmentSize ? this.keptBuffer() : Buffer.alloc(size);
      const { bytesRead } = await handle.read(buffer, 0, size, 0);
      // The partial's kept bytes are overwritten: read the next partial from its start.
      this.partialSeen = undefined;
      return buffer.subarray(0, bytesRead);
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

/** WAL pages are 8 KiB; a partial is read in pieces of this size. */
const WAL_PAGE = 8192;
const READ_CHUNK = 256 * 1024;
const ZERO_PAGE = Buffer.alloc(WAL_PAGE);

/** Whether the bytes from `start` to `end` hold a whole page of zeros: the partial's content ended. */
function endsInZeroPage(buffer: Buffer, start: number, end: number): boolean {
  for (let page = Math.ceil(start / WAL_PAGE) * WAL_PAGE; page + WAL_PAGE <= end; page += WAL_PAGE) {
    if (ZERO_PAGE.equals(buffer.subarray(page, page + WAL_PAGE))) return true;
  }
  return false;
}

function missingIsUndefined(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}
