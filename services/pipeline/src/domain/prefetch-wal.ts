import { randomBytes } from 'node:crypto';
import { type FileHandle, link, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  isWalHistoryName,
  isWalSegmentName,
  segmentName,
  segmentNumber,
  timelineOfWalName,
  WalReadBuffers,
} from '@pullback/archive';
import { startPeriodicTask } from '../queues/periodic-task.js';
import { partialContentBytes } from '../wal/partial-content.js';
import { RetiredSegments } from './retired-segments.js';
import { SpareSegments } from './spare-segments.js';

/** A WAL file as the archive gives it back (a partial is padded to the segment size). */
export interface FetchedWalFile {
  readonly content: Buffer;
  readonly segmentSize: number;
  readonly partial: boolean;
}

/** Fetches `name` from the archive's stream of the fallback, or undefined when it holds no such file. */
export type WalFetch = (
  name: string,
  options: {
    readonly allowPartial: boolean;
    readonly signal: AbortSignal;
    /** Buffers the object may be read and decoded into (the content is then a view of them). */
    readonly buffers?: WalReadBuffers;
  },
) => Promise<FetchedWalFile | undefined>;

export interface WalPrefetchOptions {
  /** The spool the fallback's restore command takes from and asks in (`Recipe.walSpool`). */
  readonly dir: string;
  /** Where recovery reads segments of its own (pg_wal), on the spool's file system. Default: the spool's parent. */
  readonly segmentsDir?: string;
  readonly fetch: WalFetch;
  /** Segments kept fetched ahead of the last one replayed from the spool. Default: 16 (on disk: 256 MiB of 16 MiB segments). */
  readonly ahead?: number;
  /** Segments fetched at once. Default: 4 (each holds a segment in memory; bench:wal replayed 1 GB 1.7x faster than with 3 and 8 ahead). */
  readonly parallel?: number;
  /** How often the spool is looked at, in ms. Default: 50. */
  readonly pollMs?: number;
  /**
   * Files of `spareSize` bytes kept in the spool to write fetched segments into
   * (`SpareSegments`), made when the agent starts and again once the fallback streams.
   * Twice `ahead` covers the segments fetched before recovery's first restartpoint lets
   * go of placed ones (on disk: 512 MiB of 16 MiB segments). Default: 0, none.
   */
  readonly spares?: number;
  /** The server's segment size, for the spares. Default: 16 MiB (a spare of another size is never used). */
  readonly spareSize?: number;
  /** With no ask nor replay from the spool for this long (it streams), what was fetched ahead is dropped. Default: 60 000. */
  readonly idleMs?: number;
  /** Failures of fetches and of the spool; the fallback's ask is answered `absent` meanwhile. */
  readonly onError: (error: Error) => void;
}

export interface WalPrefetch {
  /** Settles once the spares are made (a failure is told to `onError`). */
  readonly ready: Promise<void>;
  /**
   * The fallback's server is about to start, and recovery will ask for `segment` first
   * (`WalSpool.recoveryStart`): the window from it is fetched now, while the server
   * starts, rather than once it asks.
   */
  expect(segment: string, segmentSize: number): void;
  /** Stops looking, aborts the fetches under way and waits for them. */
  stop(): Promise<void>;
}

/**
 * Writes `content` over the start of `file`, in one write where the kernel takes it
 * (writeFile writes 512 KiB at a time, each a trip through the thread pool).
 */
async function writeWhole(file: FileHandle, content: Buffer): Promise<void> {
  for (let at = 0; at < content.length; )
    at += (await file.write(content, at, content.length - at, at)).bytesWritten;
}

/** How long an end of the archive found by a fetch ahead holds before it is tried again, in ms. */
const END_RETRY_MS = 1_000;

const PLACED = 'placed.';
/** The spool's name for a segment placed in `segmentsDir` by the agent: a second link to the same file. */
export const placedName = (segment: string) => `${PLACED}${segment}`;
/** The spool file in which the restore command writes the last segment it found placed. */
export const TAKEN_FILE = 'at';

/**
 * The agent's half of a fallback's restore_command (docs/wal.md "Fallbacks", as
 * pgBackRest's asynchronous archive-get): answers the command's `want` with the file
 * in the spool (written aside, given the spool's owner, renamed in) or
 * `absent.<name>`, and keeps the `ahead` segments after the last one replayed
 * fetched, `parallel` at once. Those are placed where recovery reads its own (linked
 * as `placed.<name>` in the spool, then renamed into `segmentsDir`), so the command,
 * finding both names on one file, only tells recovery to read it there (and writes
 * its name to `at`): no process beyond its shell per segment. A segment the archive
 * holds only as a partial is given when asked (recovery replays what it holds and
 * asks again later), never fetched ahead. Spool files and links of segments older
 * than the last replayed, or of another timeline, are removed; history files are
 * kept (recovery asks for them again and again).
 */
export function startWalPrefetch(options: WalPrefetchOptions): WalPrefetch {
  const { dir } = options;
  const segmentsDir = options.segmentsDir ?? dirname(dir);
  const ahead = options.ahead ?? 16;
  const parallel = Math.max(1, options.parallel ?? 4);
  const idleMs = options.idleMs ?? 60_000;
  const stopping = new AbortController();
  const inFlight = new Map<string, Promise<void>>();
  /** Segments fetched ahead into the spool and not yet taken by the restore command. */
  const waiting = new Set<string>();
  let segmentSize: number | undefined;
  /** The newest segment asked for or taken from the spool: the window starts after it. */
  let cursor: string | undefined;
  let end: { name: string; until: number } | undefined;
  let lastActivity = Date.now();
  /** The last name read from the command's `at`: only a change is news (what it holds on starting is not). */
  let lastTaken: string | undefined;
  let takenRead = false;
  /**
   * Buffers reused from fetch to fetch (at most `parallel` sets): a fresh 16 MiB
   * buffer per segment is fresh pages to fault in, which cost more than decoding it.
   */
  const spare: WalReadBuffers[] = [];
  const takeBuffers = () =>
    segmentSize === undefined
      ? undefined
      : (spare.pop() ?? new WalReadBuffers(Buffer.allocUnsafeSlow(segmentSize)));
  const giveBack = (buffers: WalReadBuffers | undefined) => {
    if (buffers !== undefined && buffers.content.length === segmentSize && spare.length < parallel)
      spare.push(buffers);
  };

  /** Placed segments recovery moved past: their files are written again once the server lets go of them. */
  const retired = new RetiredSegments(dir, 2 * ahead);
  /** Files written before there was anything to place, for the segments fetched before any is retired. */
  const spares = new SpareSegments(dir);
  let filling: Promise<void> | undefined;
  const fillSpares = () => {
    filling ??= spares
      .fill(options.spares ?? 0, options.spareSize ?? 16 * 1024 * 1024, stopping.signal)
      .catch((error: Error) => {
        if (!stopping.signal.aborted && !goneWithSpool(error)) options.onError(error);
      })
      .finally(() => {
        filling = undefined;
      });
    return filling;
  };

  /**
   * Writes `content` aside in the spool, owned by the spool's owner; returns its path.
   * With `reuse`, into a retired file the server let go of, when there is one.
   */
  const writeAside = async (name: string, content: Buffer, reuse = false) => {
    const reused = reuse
      ? ((await retired.take(content.length)) ?? (await spares.take(content.length)))
      : undefined;
    const temp = reused ?? join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const file = await open(temp, reused === undefined ? 'wx' : 'r+', 0o600);
      try {
        await writeWhole(file, content);
        // The server's account must read it: the spool's owner (we may be root).
        const owner = await stat(dir);
        if (process.getuid?.() === 0 && owner.uid !== 0) await file.chown(owner.uid, owner.gid);
      } finally {
        await file.close();
      }
      return temp;
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };
  /** The spool went with its data directory (a reseed): nobody waits for this file. */
  const goneWithSpool = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

  const write = async (name: string, content: Buffer) => {
    try {
      await rename(await writeAside(name, content), join(dir, name));
    } catch (error) {
      if (!goneWithSpool(error)) throw error;
    }
  };

  /**
   * Puts a complete segment where recovery reads its own, under its name, linked as
   * `placed.<name>` in the spool, so the command trusts the file only while both names
   * are one file. A file the server recycled under that name (`writeInPlace`) is written
   * over where it lies; otherwise the segment is written aside and renamed in (replacing
   * whatever is there: the archive's segment of that name is the one recovery wants),
   * linked first.
   */
  const place = async (name: string, content: Buffer) => {
    let temp: string | undefined;
    try {
      if (await writeInPlace(name, content)) return;
      temp = await writeAside(name, content, true);
      const placed = join(dir, placedName(name));
      await rm(placed, { force: true });
      await link(temp, placed);
      await rename(temp, join(segmentsDir, name));
    } catch (error) {
      if (temp !== undefined) await rm(temp, { force: true });
      if (!goneWithSpool(error)) throw error;
    }
  };
  /**
   * A server that has replayed or streamed for a while keeps its old segment files
   * renamed to the names of segments to come (PostgreSQL recycles them, up to about
   * max_wal_size), as its own spares. When `name` is one of them, the segment is written
   * into it: its pages are in memory and its blocks on disk, where a new file costs
   * fresh pages (in this VM dearer than decompressing the segment) and replacing it
   * throws them away. Only a file of a segment's size whose one other name, if any, is
   * our retired link to it (the server recycled a segment we placed); false otherwise.
   * Nothing reads it meanwhile: recovery is behind it, and asks the command, which waits
   * for the `placed` link made last.
   */
  const writeInPlace = async (name: string, content: Buffer): Promise<boolean> => {
    const target = join(segmentsDir, name);
    const found = await stat(target).catch(() => undefined);
    if (found === undefined || !found.isFile() || found.size !== content.length) return false;
    if (found.nlink > 1 && !(found.nlink === 2 && (await retired.release(found.ino, found.dev))))
      return false;
    const file = await open(target, 'r+').catch(() => undefined);
    if (file === undefined) return false;
    let written: { ino: number; dev: number };
    try {
      await writeWhole(file, content);
      written = await file.stat();
    } finally {
      await file.close();
    }
    const placed = join(dir, placedName(name));
    await rm(placed, { force: true });
    const linked = await link(target, placed).then(
      () => stat(placed),
      () => undefined,
    );
    if (linked?.ino === written.ino && linked.dev === written.dev) return true;
    // Renamed away meanwhile: what is there now is not what was written.
    await rm(placed, { force: true });
    return false;
  };
  /**
   * A partial laid over the copy of its segment recovery already holds in pg_wal, if
   * any. Recovery asks the archive for the segment it is in when streaming stops (the
   * active went away), and the command moves what it gets over that copy; the copy
   * may hold more WAL than the archive's partial (streamed after the last upload), and
   * WAL already replayed that a promotion then finds gone makes it PANIC (soak:election
   * did). Both are the start of one segment's WAL, so the archive's received prefix
   * over the held copy keeps the longer of the two.
   */
  const overHeldCopy = async (name: string, content: Buffer): Promise<Buffer> => {
    const held = await readFile(join(segmentsDir, name)).catch(() => undefined);
    if (held === undefined || held.length !== content.length) return content;
    content.copy(held, 0, 0, partialContentBytes(content));
    return held;
  };
  /** Whether `name` is placed: its link in the spool and the file in `segmentsDir` are one file. */
  const isPlaced = async (name: string) => {
    const [placed, file] = await Promise.all([
      stat(join(dir, placedName(name))).catch(() => undefined),
      stat(join(segmentsDir, name)).catch(() => undefined),
    ]);
    return placed !== undefined && file !== undefined && placed.ino === file.ino && placed.dev === file.dev;
  };
  const answerAbsent = (name: string) => write(`absent.${name}`, Buffer.alloc(0));
  const exists = (name: string) =>
    stat(join(dir, name)).then(
      () => true,
      () => false,
    );

  const fetchAhead = (name: string) => {
    const fetching = (async () => {
      const buffers = takeBuffers();
      try {
        const file = await options.fetch(name, {
          allowPartial: false,
          signal: stopping.signal,
          ...(buffers === undefined ? {} : { buffers }),
        });
        if (stopping.signal.aborted) return;
        if (file === undefined) {
          end = { name, until: Date.now() + END_RETRY_MS };
          return;
        }
        // Asked for and moved past meanwhile: not needed any more.
        if (cursor !== undefined && !isAfter(name, cursor, file.segmentSize)) return;
        await place(name, file.content);
        waiting.add(name);
      } finally {
        giveBack(buffers);
      }
    })()
      .catch((error: Error) => {
        if (!stopping.signal.aborted) options.onError(error);
      })
      .finally(() => {
        inFlight.delete(name);
        // The next one starts now, not at the next poll: replay can outrun a poll's pace.
        topUp();
      });
    inFlight.set(name, fetching);
  };

  const answer = async (name: string) => {
    lastActivity = Date.now();
    if (isWalSegmentName(name)) {
      await inFlight.get(name);
      if ((await isPlaced(name)) || (await exists(name))) return;
    }
    let file: FetchedWalFile | undefined;
    try {
      file = await options.fetch(name, { allowPartial: isWalSegmentName(name), signal: stopping.signal });
    } catch (error) {
      if (stopping.signal.aborted) return;
      options.onError(error as Error);
      // Recovery goes on (streaming, or asking again later) rather than waiting for an archive in trouble.
      await answerAbsent(name);
      return;
    }
    if (file === undefined) {
      await answerAbsent(name);
      return;
    }
    if (isWalSegmentName(name)) {
      segmentSize = file.segmentSize;
      cursor = name;
      end = undefined;
      // The next ones start now, while this one is written: replay wants the next at once
      // when this one ends early (a snapshot's first segment, cut short by a switch).
      topUp();
    }
    // Handed over in the spool, for the command to move where its caller wants it: a
    // partial is never placed (asked again later, it is fetched again).
    await write(name, file.partial ? await overHeldCopy(name, file.content) : file.content);
    if (isWalSegmentName(name)) await removeBehind(name);
  };

  /**
   * Spool files and links of segments before `name` or of another timeline: recovery
   * will not ask for them. Placed segments stay where recovery reads its own: the
   * server removes or recycles them as it does its own, and their links are retired
   * (a file the server removed is written again with a later segment).
   */
  const removeBehind = async (name: string) => {
    if (segmentSize === undefined) return;
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      const segment = entry.startsWith(PLACED) ? entry.slice(PLACED.length) : entry;
      if (!isWalSegmentName(segment) || segment === name) continue;
      if (isAfter(segment, name, segmentSize)) continue;
      waiting.delete(segment);
      if (entry.startsWith(PLACED)) await retired.retire(entry, segment);
      else await rm(join(dir, entry), { force: true });
    }
  };

  /** The command's `at`: the last segment it found placed, when it changed. */
  const readTaken = async () => {
    const taken = await readFile(join(dir, TAKEN_FILE), 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
    if (taken === undefined || taken === lastTaken || !isWalSegmentName(taken)) return undefined;
    lastTaken = taken;
    return taken;
  };

  const round = async () => {
    if (!takenRead) {
      takenRead = true;
      await readTaken();
      await retired.adopt();
    }
    // The restore command's ask: taken by a rename, so a new ask is never lost to ours.
    const wantTaken = join(dir, `want.taken`);
    const asked = await rename(join(dir, 'want'), wantTaken).then(
      async () => (await readFile(wantTaken, 'utf8')).trim(),
      () => undefined,
    );
    if (asked !== undefined) {
      await rm(wantTaken, { force: true });
      if (isWalSegmentName(asked) || isWalHistoryName(asked)) await answer(asked);
      else await answerAbsent(asked.replace(/[^0-9A-Za-z.]/g, '') || 'unknown');
    }
    if (segmentSize === undefined || cursor === undefined) return;

    // What recovery took moves the window on.
    const taken = await readTaken();
    if (taken !== undefined) {
      lastActivity = Date.now();
      if (isAfter(taken, cursor, segmentSize)) {
        cursor = taken;
        for (const name of waiting) if (!isAfter(name, cursor, segmentSize)) waiting.delete(name);
        await removeBehind(cursor);
      }
    }
    if (Date.now() - lastActivity > idleMs) {
      // It streams: the links of what lies ahead go (the placed files are the WAL
      // recovery would read there: it streams over them, or removes them as its own).
      for (const name of waiting) await rm(join(dir, placedName(name)), { force: true });
      waiting.clear();
      await retired.clear();
      spare.length = 0;
      cursor = undefined;
      // Ready for the next catch-up, made while nothing else is written.
      void fillSpares();
      return;
    }
    topUp();
  };

  /** Starts fetches of the window's missing segments, up to `parallel` at once. */
  const topUp = () => {
    if (segmentSize === undefined || cursor === undefined || stopping.signal.aborted) return;
    for (let step = 1; step <= ahead && inFlight.size < parallel; step++) {
      const name = segmentName(
        segmentNumber(cursor, segmentSize) + BigInt(step),
        timelineOfWalName(cursor),
        segmentSize,
      );
      if (end !== undefined && Date.now() < end.until && !isAfter(end.name, name, segmentSize)) break;
      if (inFlight.has(name) || waiting.has(name)) continue;
      fetchAhead(name);
    }
  };

  const task = startPeriodicTask(options.pollMs ?? 50, round, options.onError);
  return {
    ready: fillSpares(),
    expect: (segment, size) => {
      if (!isWalSegmentName(segment) || stopping.signal.aborted) return;
      const number = segmentNumber(segment, size);
      if (number === 0n) return;
      // As if recovery had just taken the segment before it: the window starts at `segment`.
      segmentSize = size;
      cursor = segmentName(number - 1n, timelineOfWalName(segment), size);
      end = undefined;
      lastActivity = Date.now();
      topUp();
    },
    stop: async () => {
      stopping.abort(new Error('stopped'));
      await task.stop();
      await Promise.allSettled([...inFlight.values(), filling]);
    },
  };
}

/** Whether segment `a` comes after segment `b` on the same timeline (another timeline never does). */
function isAfter(a: string, b: string, segmentSize: number): boolean {
  return (
    timelineOfWalName(a) === timelineOfWalName(b) &&
    segmentNumber(a, segmentSize) > segmentNumber(b, segmentSize)
  );
}
