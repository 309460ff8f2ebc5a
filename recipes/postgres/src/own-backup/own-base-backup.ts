import { join } from 'node:path';
import { PAGE_SIZE } from '@pullback/archive';
import {
  type ArtifactWriter,
  type CorruptPage,
  INCREMENTAL_DESCRIPTION,
  type IncrementalDescription,
  type InPlaceArchive,
  inPlaceEntry,
  RecipeError,
} from '@pullback/pipeline/core';
import { describeEndpoint } from '../connection.js';
import { lsnToBigInt } from '../lsn.js';
import type { ExportResult, ExportSource } from '../run-export.js';
import { ensureWalSlot, type WalSlotState } from '../wal-slot.js';
import { BackupSession, type BackupStart, type BackupStop } from './backup-session.js';
import type { ChangedBlocks } from './changed-blocks.js';
import { type DataDirEntry, dataDirEntries, relationSegment } from './data-dir-files.js';
import { openDataFile, readDataFile } from './data-file-reader.js';
import type { ExportRecord } from './export-record.js';
import { dropExportSlot, exportSlotName } from './export-slot.js';
import { CONTROL_FILE, lateEntries, rootEntry } from './in-place-entries.js';
import { changedBlocks, pageDeltaMember } from './page-delta-member.js';
import { type TarEntry, tarOfEntries } from './tar-of-entries.js';
import { labelTimeline, walSegmentsBetween } from './wal-segments.js';
import { summarizeWal } from './wal-summary.js';

/** Data objects read at once by default: files are spread over this many tars, each read in turn. */
export const DEFAULT_READERS = 4;

/** Bytes to copy that make another tar worth its cost. */
const LANE_BYTES = 8 * 1024 * 1024;

export interface OwnBackupOptions {
  readonly dataDir: string;
  readonly component: string;
  readonly exportId: string;
  /** Tars written at once. Default: DEFAULT_READERS. */
  readonly readers?: number;
  /**
   * The record of the previous export, checked by the caller to be this server's and
   * due no full read: only what changed since is staged, the rest named as the parent's.
   * Absent: a full read.
   */
  readonly previous?: ExportRecord;
  /**
   * The caller records this export for the next one: the export slot keeps the WAL
   * from its start, whose records name the blocks the next one reads. Default: false
   * (no slot; one left from before is dropped).
   */
  readonly keepWal?: boolean;
  /**
   * A full read archives the files in place, inside the backup window, instead of
   * writing tars (the one-shot `pullback backup`; see `InPlaceArchive`). Default: none.
   */
  readonly inPlace?: InPlaceArchive;
  readonly signal?: AbortSignal;
}

/** What the agent's own backup hands back: the export's result, and the record for the next one once it is committed. */
export interface OwnBackupResult extends ExportResult {
  readonly record: Omit<ExportRecord, 'format'>;
}

/**
 * The agent's own non-exclusive base backup of the server whose data directory is on
 * this host (docs/exports.md, "The agent's own export"): `pg_backup_start` on a held
 * session, the data directory's files read directly and spread over `readers` tars
 * `data-<n>.tar` written at once (each file whole in one of them), every page of a
 * relation file checked against its checksum on a cluster with data checksums, then
 * `pg_backup_stop`, and `finish.tar` with what recovery starts from: backup_label and
 * tablespace_map as pg_backup_stop gave them, pg_control, and the WAL segments from
 * the start to the stop LSN copied from pg_wal, so the snapshot restores without the
 * archive, as pg_basebackup's `--wal-method=fetch` snapshots do. A corrupt page does
 * not fail the backup: it is listed in the result (`details.corruptPages`).
 *
 * With `inPlace` a full read writes no tar: the archive reads the listed files where
 * they lie (checking pages) before pg_backup_stop, and what `finish.tar` would hold
 * after it (`lateEntries`); the result says `archivedInPlace`. So does an incremental
 * one whose changed pages the WAL names: each file is given with what changed since
 * the previous export (`SourceEntry.changedPages`: nothing, for a file found as it
 * was; the WAL's blocks, for a relation file), and the archive reads only those pages
 * where they lie, laid over the parent snapshot's copy, or the whole file when that
 * copy cannot take them.
 */
export async function ownBaseBackup(
  writer: ArtifactWriter,
  source: ExportSource,
  options: OwnBackupOptions,
): Promise<OwnBackupResult> {
  const { dataDir, signal, previous } = options;
  const startedAtMs = Date.now();
  // Before the start: the slot holds the WAL from the previous export's start to this one's.
  let held: WalSlotState | undefined;
  if (options.keepWal === true) {
    held = await ensureWalSlot(source.endpoint, exportSlotName(options.component), source.queryOptions);
  } else {
    await dropExportSlot(source.endpoint, options.component, source.queryOptions);
  }
  const session = await BackupSession.open(source.endpoint, signal);
  try {
    const start = await session.start(`pullback ${options.exportId}`);
    if (start.blockSize !== PAGE_SIZE) {
      throw new RecipeError(
        `${describeEndpoint(source.endpoint)} uses ${start.blockSize}-byte pages; the agent's own backup reads ${PAGE_SIZE}-byte pages only`,
        { permanent: true },
      );
    }
    const startLsn = lsnToBigInt(start.startLsn);
    const corruptPages: CorruptPage[] = [];
    const heldFrom = held === undefined ? undefined : lsnToBigInt(held.restartLsn);
    // Listed, and what changed found, while the archive gets ready when it reads in place.
    const listing = (async (): Promise<Listing> => {
      const entries: DataDirEntry[] = [];
      for await (const entry of dataDirEntries(dataDir)) {
        if (entry.path !== CONTROL_FILE) entries.push(entry);
      }
      const unchanged: string[] = [];
      const copied = entries.filter((entry) => {
        if (previous === undefined || !unchangedSince(entry, previous)) return true;
        unchanged.push(entry.path);
        return false;
      });
      const changes =
        previous === undefined ? undefined : await walChangesSince(previous, start, heldFrom, dataDir);
      return { entries, unchanged, copied, changes };
    })();
    listing.catch(() => {}); // awaited on every path below
    const counts = { pageFiles: 0, pages: 0 };
    const outcome = (stop: BackupStop, { entries, unchanged, changes }: Listing): OwnBackupResult => {
      const timeline = labelTimeline(stop.backupLabel);
      return {
        server: {
          systemIdentifier: source.facts.systemIdentifier,
          timeline,
          startLsn: start.startLsn,
          endLsn: stop.stopLsn,
          serverVersion: source.facts.serverVersion,
        },
        details: {
          method: 'own',
          dataChecksums: start.dataChecksums,
          walRanges: [{ timeline, startLsn: start.startLsn, endLsn: stop.stopLsn }],
          fromStandby: false,
          corruptPages,
          ...(previous === undefined
            ? {}
            : {
                incremental: {
                  parent: previous.exportId,
                  unchangedFiles: unchanged.length,
                  ...counts,
                  ...(typeof changes === 'object'
                    ? { changedBy: 'wal', walBlocks: changes.blockCount }
                    : { changedBy: 'page-lsn', whyNotWal: changes ?? '' }),
                },
              }),
        },
        record: {
          component: options.component,
          systemIdentifier: source.facts.systemIdentifier,
          exportId: options.exportId,
          startLsn: start.startLsn,
          timeline: start.timeline,
          startedAtMs,
          fullReadAtMs: previous?.fullReadAtMs ?? startedAtMs,
          files: Object.fromEntries(
            entries
              .filter((entry) => entry.type === 'file')
              .map((entry) => [entry.path, [entry.size, entry.mtimeMs]]),
          ),
        },
      };
    };
    // In place: a full read, or one whose changed pages the WAL should name (found by
    // reading files through, they go through the outbox, read in parallel lanes).
    if (
      options.inPlace !== undefined &&
      (previous === undefined || whyNotWal(previous, start, heldFrom) === undefined)
    ) {
      // The files vouched for (`changedPages`), and about what the archive will read.
      const planned = listing.then(({ entries, unchanged, copied, changes }) => {
        const vouched = new Map<string, Uint32Array>(unchanged.map((path) => [path, NOTHING_CHANGED]));
        if (previous !== undefined && typeof changes === 'object') {
          for (const entry of copied) {
            const blocks = walDeltaBlocks(entry, previous, changes);
            if (blocks === undefined) continue;
            vouched.set(entry.path, blocks);
            counts.pageFiles++;
            counts.pages += blocks.length;
          }
        }
        // The files not vouched for, and after the stop pg_control and (at least) a WAL segment.
        const bytes = entries
          .filter((entry) => entry.type === 'file' && !vouched.has(entry.path))
          .reduce((sum, entry) => sum + entry.size, PAGE_SIZE + start.walSegmentSize);
        return { entries, vouched, work: { bytes, pages: counts.pages } };
      });
      planned.catch(() => {}); // awaited by the archive's first read of the entries
      let work: { bytes: number; pages: number } | undefined;
      void planned.then((plan) => {
        work = plan.work;
      });
      let finished: OwnBackupResult | undefined;
      await options.inPlace.archive({
        work: () => work,
        entries: async function* () {
          const { entries, vouched } = await planned;
          yield await rootEntry(dataDir);
          for (const entry of entries) {
            const changedPages = vouched.get(entry.path);
            const source = inPlaceEntry({ ...entry, absolute: join(dataDir, entry.path) });
            yield changedPages === undefined ? source : { ...source, changedPages };
          }
        },
        ...(start.dataChecksums
          ? {
              pageChecksums: {
                startLsn,
                onCorrupt: (file: string, block: number) => corruptPages.push({ file, block }),
              },
            }
          : {}),
        finish: async () => {
          const listed = await listing;
          const stop = await session.stop();
          finished = outcome(stop, listed);
          const owner = { uid: listed.entries[0]?.uid ?? 0, gid: listed.entries[0]?.gid ?? 0 };
          return { entries: await lateEntries(dataDir, start, stop, owner), result: finished };
        },
      });
      if (finished === undefined) throw new Error('the in-place archive never ended the backup');
      return { ...finished, archivedInPlace: true };
    }
    const listed = await listing;
    const { entries, unchanged, copied, changes } = listed;
    // A tar per LANE_BYTES to copy, up to `readers`: each is an object the outbox makes
    // durable and the pull opens, which a backup of a few changed files need not pay four times.
    const copiedBytes = copied.reduce((sum, entry) => sum + entry.size, 0);
    const readers = Math.min(options.readers ?? DEFAULT_READERS, Math.ceil(copiedBytes / LANE_BYTES));
    const lanes = spread(copied, readers);
    const member = (entry: DataDirEntry) =>
      memberOf(dataDir, entry, {
        checkFrom: start.dataChecksums ? startLsn : undefined,
        corrupt: corruptPages,
        ...(previous !== undefined && previous.files[entry.path] !== undefined
          ? {
              changedSince: lsnToBigInt(previous.startLsn),
              previousSize: previous.files[entry.path]![0],
              counts,
              ...(typeof changes === 'object' ? { walBlocks: changes } : {}),
            }
          : {}),
      });
    await Promise.all(
      lanes.map((lane, index) => writer.saveStream(`data-${index}.tar`, tarOfEntries(members(lane, member)))),
    );
    const stop = await session.stop();
    const timeline = labelTimeline(stop.backupLabel);
    const segments = walSegmentsBetween(start.startLsn, stop.stopLsn, timeline, start.walSegmentSize);
    const now = Date.now();
    // Files written here belong to the data directory's owner, as the others do.
    const owner = { uid: entries[0]?.uid ?? 0, gid: entries[0]?.gid ?? 0 };
    const fileNamed = (path: string): DataDirEntry => ({
      path,
      type: 'file',
      mode: 0o600,
      size: 0,
      mtimeMs: now,
      ...owner,
    });
    await writer.saveStream(
      'finish.tar',
      tarOfEntries(
        (async function* () {
          yield { ...textMember('backup_label', stop.backupLabel, now), ...owner };
          if (previous !== undefined) {
            const description: IncrementalDescription = { parent: previous.exportId, unchanged };
            yield textMember(INCREMENTAL_DESCRIPTION, JSON.stringify(description), now);
          }
          if (stop.tablespaceMap !== '')
            yield { ...textMember('tablespace_map', stop.tablespaceMap, now), ...owner };
          for (const path of [CONTROL_FILE, ...segments.map((name) => `pg_wal/${name}`)]) {
            const found = await member(fileNamed(path));
            if (found === undefined)
              throw new Error(`${join(dataDir, path)}, which the backup needs, is gone`);
            yield found;
          }
        })(),
      ),
    );
    return outcome(stop, listed);
  } finally {
    await session.close();
  }
}

/** What the listing found: the entries, those found unchanged, the others, and what changed in those. */
interface Listing {
  readonly entries: readonly DataDirEntry[];
  readonly unchanged: readonly string[];
  readonly copied: readonly DataDirEntry[];
  /** The blocks the WAL since the previous export names, or why they cannot be known; undefined for a full read. */
  readonly changes: ChangedBlocks | string | undefined;
}

/**
 * Why the WAL since the previous export cannot name the changed blocks, as far as can
 * be told before reading it: no slot kept it, or the server changed timelines.
 */
function whyNotWal(
  previous: ExportRecord,
  start: BackupStart,
  heldFrom: bigint | undefined,
): string | undefined {
  if (heldFrom === undefined) return 'no export slot keeps WAL for this export (no record is kept)';
  if (previous.timeline === undefined) return 'the record of the previous export names no timeline';
  if (previous.timeline !== start.timeline) {
    return `the server moved from timeline ${previous.timeline} to ${start.timeline}`;
  }
  if (heldFrom > lsnToBigInt(previous.startLsn)) {
    return 'the export slot did not hold the WAL since the previous export (new, or lost)';
  }
  return undefined;
}

/**
 * The blocks the WAL between the previous export's start and this one's names,
 * read from pg_wal, which the export slot kept; a string says why they cannot be
 * known (the export then reads each changed relation file through, comparing pages' LSNs).
 */
async function walChangesSince(
  previous: ExportRecord,
  start: BackupStart,
  heldFrom: bigint | undefined,
  dataDir: string,
): Promise<ChangedBlocks | string> {
  const why = whyNotWal(previous, start, heldFrom);
  if (why !== undefined) return why;
  const summary = await summarizeWal({
    pgWal: join(dataDir, 'pg_wal'),
    timeline: start.timeline,
    from: Number(lsnToBigInt(previous.startLsn)),
    to: Number(lsnToBigInt(start.startLsn)),
    segmentSize: start.walSegmentSize,
  });
  return summary.blocks ?? summary.whyNot;
}

/** Spreads the entries over `count` lanes: directories and links in the first, files by size, largest first, each to the lightest lane. */
function spread(entries: readonly DataDirEntry[], count: number): DataDirEntry[][] {
  const lanes: DataDirEntry[][] = Array.from({ length: Math.max(1, count) }, () => []);
  const weights = lanes.map(() => 0);
  for (const entry of entries) if (entry.type !== 'file') lanes[0]!.push(entry);
  const files = entries.filter((entry) => entry.type === 'file').sort((a, b) => b.size - a.size);
  for (const file of files) {
    let lightest = 0;
    for (let index = 1; index < lanes.length; index++)
      if (weights[index]! < weights[lightest]!) lightest = index;
    lanes[lightest]!.push(file);
    weights[lightest]! += file.size + 512;
  }
  return lanes;
}

async function* members(
  entries: readonly DataDirEntry[],
  member: (entry: DataDirEntry) => Promise<TarEntry | undefined>,
): AsyncGenerator<TarEntry | undefined> {
  for (const entry of entries) yield await member(entry);
}

/** How `memberOf` reads a file. */
interface MemberOptions {
  /** Data checksums on: the backup's start LSN (pages changed after it are not checked). */
  readonly checkFrom: bigint | undefined;
  readonly corrupt: CorruptPage[];
  /** The previous export's start LSN, for a file it copied: a relation file's changed pages only. */
  readonly changedSince?: bigint;
  /** The file's size when the previous export listed it. */
  readonly previousSize?: number;
  /** The blocks the WAL since the previous export names: only those are read. Absent: read the file through. */
  readonly walBlocks?: ChangedBlocks;
  readonly counts?: { pageFiles: number; pages: number };
}

/**
 * The tar member of one entry; a file is opened now and read as the tar takes it (its
 * size as it is now), undefined when it is gone. A relation file's pages are checked
 * (data checksums on), corrupt ones added to `corrupt`. With `changedSince`, only the
 * changed pages of a relation's main fork are staged (a page delta, `isPageDeltaFile`),
 * unless they are most of the file: those `walBlocks` names, or without it those found
 * by reading the file through (page LSNs).
 */
async function memberOf(
  dataDir: string,
  entry: DataDirEntry,
  options: MemberOptions,
): Promise<TarEntry | undefined> {
  const common = {
    name: entry.path,
    mode: entry.mode,
    mtime: new Date(entry.mtimeMs),
    uid: entry.uid,
    gid: entry.gid,
  };
  if (entry.type === 'directory') return { ...common, type: 'directory' };
  if (entry.type === 'symlink') return { ...common, type: 'symlink', target: entry.target ?? '' };
  const file = await openDataFile(join(dataDir, entry.path));
  if (file === undefined) return undefined;
  const segment = relationSegment(entry.path);
  const check =
    segment === undefined || options.checkFrom === undefined
      ? undefined
      : {
          segment,
          startLsn: options.checkFrom,
          onCorrupt: (block: number) => options.corrupt.push({ file: entry.path, block }),
        };
  if (options.changedSince !== undefined && isPageDeltaFile(entry.path)) {
    try {
      const named = options.walBlocks?.blocksOf(entry.path, options.previousSize ?? 0, file.size);
      const blocks = named ?? (await changedBlocks(file, options.changedSince, check));
      if (blocks !== undefined && blocks.length * 2 <= file.size / PAGE_SIZE) {
        if (options.counts !== undefined) {
          options.counts.pageFiles++;
          options.counts.pages += blocks.length;
        }
        return {
          // Pages found by reading the file through were checked then.
          ...pageDeltaMember(entry.path, file, blocks, entry.mode, common.mtime, named && check),
          uid: entry.uid,
          gid: entry.gid,
        };
      }
    } catch (error) {
      await file.handle.close();
      throw error;
    }
  }
  return {
    ...common,
    type: 'file',
    size: file.size,
    content: async function* () {
      try {
        yield* readDataFile(file, file.size, check);
      } finally {
        await file.handle.close();
      }
    },
  };
}

/** Of a file not found unchanged, nothing changed since the previous export: its copy there is the file. */
const NOTHING_CHANGED = new Uint32Array(0);

/**
 * Whether a file may be staged as its changed pages: a relation's main fork. Free
 * space and visibility maps are copied whole (they are small): their changes do not
 * always move a page's LSN, and a visibility bit cleared by a heap record is in no
 * block reference.
 */
function isPageDeltaFile(path: string): boolean {
  return relationSegment(path) !== undefined && !/_(fsm|vm|init)(\.|$)/.test(path);
}

/**
 * The pages of `entry` that changed since the previous export, by what the WAL names,
 * when they are few enough to be worth taking as pages (at most half the file); else
 * undefined: the file is read whole.
 */
function walDeltaBlocks(
  entry: DataDirEntry,
  previous: ExportRecord,
  changes: ChangedBlocks,
): Uint32Array | undefined {
  const then = previous.files[entry.path];
  if (entry.type !== 'file' || then === undefined || !isPageDeltaFile(entry.path)) return undefined;
  const blocks = changes.blocksOf(entry.path, then[0], entry.size);
  return blocks !== undefined && blocks.length * 2 <= entry.size / PAGE_SIZE ? blocks : undefined;
}

/**
 * A file the previous export copied, found as it was then (size and mtime), and last
 * written before that export began (so it was read after its last write; the margin
 * covers coarse mtimes): the parent's copy is this file.
 */
function unchangedSince(entry: DataDirEntry, previous: ExportRecord): boolean {
  if (entry.type !== 'file') return false;
  const then = previous.files[entry.path];
  return (
    then !== undefined &&
    then[0] === entry.size &&
    then[1] === entry.mtimeMs &&
    entry.mtimeMs < previous.startedAtMs - 1000
  );
}

function textMember(name: string, text: string, mtimeMs: number): TarEntry {
  const bytes = Buffer.from(text, 'utf8');
  return {
    type: 'file',
    name,
    mode: 0o600,
    mtime: new Date(mtimeMs),
    size: bytes.length,
    content: async function* () {
      yield bytes;
    },
  };
}
