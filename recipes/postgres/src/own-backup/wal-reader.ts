import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** WAL pages are 8 KiB in every build this reads (checked against the segment's long header). */
const WAL_PAGE = 8192;
const SHORT_PAGE_HEADER = 24;
const LONG_PAGE_HEADER = 40;
const XLP_LONG_HEADER = 0x0002;
/** Bytes of a record copied out to read its headers: 33 block headers and the main data's first words fit. */
export const HEADER_BYTES = 1024;
/** PostgreSQL 15 moved the compressed-image flag from 0x02 to one bit per method (0x04, 0x08, 0x10). */
const FIRST_MAGIC_WITH_METHODS = 0xd110;
/**
 * WAL is read a window at a time, not a segment: between two exports that found
 * nothing changed the range is a few pages on each side of a switch, and reading its
 * two 16 MiB segments whole cost 60-90 ms on a cold cache. Segments are 1 MiB at
 * least, so a window never straddles two.
 */
const WINDOW_BYTES = 1024 * 1024;
/**
 * Windows kept in memory at first: a record (whose headers are read and whose pages
 * are stepped over) spanning more makes room for one more each time it is read again,
 * up to MAX_WINDOWS (a larger one, a logical message of 64 MiB, sends the export to
 * page LSNs rather than hold it).
 */
const KEPT_WINDOWS = 2;
/**
 * Windows read ahead of the one parsed. One was not enough on a cold cache: the summary
 * waited on the disk a quarter of its time (240 MiB of WAL at pgbench scale 500).
 */
const READ_AHEAD = 4;
export const MAX_WINDOWS = 64;

/** Where WAL is read from: pg_wal of a data directory, one timeline. */
export interface WalSource {
  /** pg_wal of the data directory. */
  readonly pgWal: string;
  readonly timeline: number;
  readonly segmentSize: number;
}

export class WalReadError extends Error {}

/** Thrown by the synchronous reads for a window not in memory yet. */
export class NotRead {
  constructor(readonly window: number) {}
}

/** One window of a segment read into memory: bytes from `number × window size` of the WAL. */
interface LoadedWindow {
  readonly number: number;
  readonly bytes: Buffer;
}

/**
 * The bytes of a WAL range as records see them: page headers checked and stepped over.
 * Positions are given and taken relative to `base`, the start of the range's first
 * segment: LSNs are past 2^32, and V8 holds such numbers as doubles, whose remainder is
 * a call to fmod; these are small integers, whose arithmetic is an integer's. Windows
 * are numbered from `base` too. `base + position` is the LSN.
 */
export class WalReader {
  private readonly kept: LoadedWindow[] = [];
  private keep = KEPT_WINDOWS;
  private readonly spare: Buffer[] = [];
  private readonly scratch = Buffer.alloc(HEADER_BYTES);
  private readonly window: number;
  /** Segments whose long header was checked, by number from `base`. */
  private readonly opened = new Set<number>();
  private magic: number | undefined;
  /** Why a segment could not be read. */
  failure: string | undefined;
  /** The LSN of position 0: the start of the segment holding `from`. */
  readonly base: number;
  /** Where the range ends, from `base`: nothing past it is read ahead. */
  private readonly end: number;

  /** Reads `source`'s WAL from `from`, reading ahead no further than `to` (both LSNs). */
  constructor(
    private readonly source: WalSource,
    from: number,
    to: number,
  ) {
    this.window = Math.min(WINDOW_BYTES, source.segmentSize);
    this.base = Math.floor(from / source.segmentSize) * source.segmentSize;
    this.end = to - this.base;
  }

  /** The image flags that mean a compressed page image in this server version's WAL. */
  get compressedFlags(): number {
    return (this.magic ?? FIRST_MAGIC_WITH_METHODS) >= FIRST_MAGIC_WITH_METHODS ? 0x1c : 0x02;
  }

  /** The buffer `locate` found the bytes in: a window's, or the scratch they were copied to. */
  view: Buffer = this.scratch;

  /**
   * Where `length` (at most HEADER_BYTES) bytes of the record stream from `position`
   * are in `view`: in place in the window when they lie in one page, else copied out
   * around page headers. Nothing is allocated: a GB of WAL holds a million records.
   */
  locate(position: number, length: number): number {
    const inPage = position % WAL_PAGE;
    if (inPage !== 0 && inPage + length <= WAL_PAGE) {
      this.view = this.windowAt(position).bytes;
      return position % this.window;
    }
    let at = position;
    let done = 0;
    while (done < length) {
      at = this.enter(at);
      const offset = at % this.window;
      const take = Math.min(length - done, WAL_PAGE - (offset % WAL_PAGE));
      this.windowAt(at).bytes.copy(this.scratch, done, offset, offset + take);
      done += take;
      at += take;
    }
    this.view = this.scratch;
    return 0;
  }

  /** The position just past `length` record bytes from `position`, each page entered checked. */
  skip(position: number, length: number): number {
    let at = position;
    let left = length;
    while (left > 0) {
      at = this.enter(at);
      const take = Math.min(left, WAL_PAGE - (at % WAL_PAGE));
      left -= take;
      at += take;
    }
    return at;
  }

  /** At a page's start: checks its header and steps over it (a record never starts inside one). */
  enter(position: number): number {
    if (position % WAL_PAGE !== 0) return position;
    const { bytes } = this.windowAt(position);
    const offset = position % this.window;
    const magic = bytes.readUInt16LE(offset);
    const address = bytes.readUInt32LE(offset + 8) + bytes.readUInt32LE(offset + 12) * 0x100000000;
    if (magic !== this.magic || address !== this.base + position) {
      throw new WalReadError(`the WAL page at ${this.lsn(position)} is not that page (recycled since?)`);
    }
    return position + (position % this.source.segmentSize === 0 ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER);
  }

  /** A position's LSN as text. */
  lsn(position: number): string {
    return lsnText(this.base + position);
  }

  /**
   * Reads window `number` into memory (the oldest kept gives way), and starts reading
   * the next READ_AHEAD ones, so that the disk works while the records are parsed; a
   * failure is kept in `failure`.
   */
  async read(number: number): Promise<void> {
    const ahead = this.ahead.get(number);
    // Windows read ahead that the reading has gone past (it only goes on) are let go.
    for (const past of this.ahead.keys()) if (past <= number) this.ahead.delete(past);
    const loaded = await (ahead ?? this.load(number));
    if (typeof loaded === 'string') {
      this.failure = loaded;
      return;
    }
    if (this.kept.length >= this.keep) this.spare.push(this.kept.shift()!.bytes);
    this.kept.push({ number, bytes: loaded });
    for (let next = number + 1; next <= number + READ_AHEAD && next * this.window < this.end; next++) {
      if (this.ahead.has(next)) continue;
      const bytes = this.load(next);
      bytes.catch(() => {}); // awaited by the read that wants it, if one does
      this.ahead.set(next, bytes);
    }
  }

  /** Windows being read ahead (`read`), by number. */
  private readonly ahead = new Map<number, Promise<Buffer | string>>();

  /**
   * Window `number`'s bytes, and the first time its segment is met, the segment's long
   * header checked; or why they cannot be read.
   */
  private async load(number: number): Promise<Buffer | string> {
    const at = number * this.window;
    const segment = Math.floor(at / this.source.segmentSize);
    const name = segmentName(
      this.source.timeline,
      this.base / this.source.segmentSize + segment,
      this.source.segmentSize,
    );
    const file = await open(join(this.source.pgWal, name), 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (file === undefined) return `WAL segment ${name} is no longer in pg_wal`;
    const bytes = this.spare.pop() ?? Buffer.allocUnsafe(this.window);
    try {
      if (!this.opened.has(segment)) {
        const head = Buffer.alloc(LONG_PAGE_HEADER);
        const { bytesRead } = await file.read(head, 0, head.length, 0);
        if (
          bytesRead < head.length ||
          (head.readUInt16LE(2) & XLP_LONG_HEADER) === 0 ||
          head.readUInt32LE(36) !== WAL_PAGE
        ) {
          return `WAL segment ${name} does not open with a long header for 8 KiB pages`;
        }
        this.magic ??= head.readUInt16LE(0);
        this.opened.add(segment);
      }
      const from = at % this.source.segmentSize;
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await file.read(bytes, done, bytes.length - done, from + done);
        if (bytesRead === 0) return `WAL segment ${name} is shorter than a segment`;
        done += bytesRead;
      }
      return bytes;
    } finally {
      await file.close();
    }
  }

  /** Makes room for one more window, unless MAX_WINDOWS are kept already. */
  keepMore(): boolean {
    if (this.keep >= MAX_WINDOWS) return false;
    this.keep++;
    return true;
  }

  private windowAt(position: number): LoadedWindow {
    const number = Math.floor(position / this.window);
    for (const window of this.kept) if (window.number === number) return window;
    throw new NotRead(number);
  }
}

/** A WAL segment's file name. */
export function segmentName(timeline: number, segment: number, segmentSize: number): string {
  const perId = 0x100000000 / segmentSize;
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segment / perId))}${hex(segment % perId)}`;
}

export function lsnText(position: number): string {
  return `${Math.floor(position / 0x100000000)
    .toString(16)
    .toUpperCase()}/${(position % 0x100000000).toString(16).toUpperCase()}`;
}
