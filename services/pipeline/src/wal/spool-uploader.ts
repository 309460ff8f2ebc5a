import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLsn, parseLsn } from '@pullback/archive';
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
  private partialSeen: { file: string; mtimeMs: number; bytes: number } | undefined;
  private partialBuffer: Buffer | undefined;

  constructor(private readonly options: SpoolUploaderOptions) {}

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
    const content = await readFile(path).catch(missingIsUndefined);
    if (content === undefined) return;
    const partial = file.kind === 'partial';
    const bytes = partial ? partialContentBytes(content) : content.length;
    const times = await this.times(file, path);
    if (times === undefined) return;
    await this.options.archive.store(
      this.options.stream,
      file.name,
      partial ? content.subarray(0, bytes) : content,
      { segmentSize: this.options.segmentSize, partial, ...times },
      signal === undefined ? {} : { signal },
    );
    await rm(path, { force: true });
    this.firstSeen.delete(file.name);
    if (file.kind !== 'history') this.advance(file, bytes, 'both');
  }

  private async storePartial(file: SpoolFile, signal: AbortSignal | undefined): Promise<void> {
    const path = join(this.options.spoolDir, file.file);
    const info = await stat(path).catch(missingIsUndefined);
    if (info === undefined) return;
    const seen = this.partialSeen?.file === file.file ? this.partialSeen : undefined;
    if (seen !== undefined && seen.mtimeMs === info.mtimeMs) return;
    // pg_receivewal may rename it to the complete segment meanwhile: then the next pass stores that.
    const content = await this.readPartial(path);
    if (content === undefined) return;
    const bytes = partialContentBytes(content, seen?.bytes ?? 0);
    this.advance(file, bytes, 'flushed');
    // An empty partial (just created, or put there to resume from) holds nothing to store yet.
    if (bytes <= (seen?.bytes ?? 0)) {
      this.partialSeen = { file: file.file, mtimeMs: info.mtimeMs, bytes: seen?.bytes ?? 0 };
      return;
    }
    const times = await this.times(file, path);
    if (times === undefined) return;
    await this.options.archive.store(
      this.options.stream,
      file.name,
      content.subarray(0, bytes),
      { segmentSize: this.options.segmentSize, partial: true, ...times },
      signal === undefined ? {} : { signal },
    );
    this.partialSeen = { file: file.file, mtimeMs: info.mtimeMs, bytes };
    this.advance(file, bytes, 'both');
  }

  /**
   * Reads a partial into one buffer kept for it: it is read again every few hundred
   * milliseconds, and a new 16 MiB buffer each time would churn memory.
   */
  private async readPartial(path: string): Promise<Buffer | undefined> {
    const handle = await open(path, 'r').catch(missingIsUndefined);
    if (handle === undefined) return undefined;
    try {
      this.partialBuffer ??= Buffer.alloc(this.options.segmentSize);
      const { bytesRead } = await handle.read(this.partialBuffer, 0, this.partialBuffer.length, 0);
      return this.partialBuffer.subarray(0, bytesRead);
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

function missingIsUndefined(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}
