import { join } from 'node:path';
import type { ArtifactWriter } from '@pullback/pipeline';
import { RecipeError } from '@pullback/pipeline';
import { describeEndpoint } from '../connection.js';
import { lsnToBigInt } from '../lsn.js';
import type { ExportResult, ExportSource } from '../run-export.js';
import { BackupSession } from './backup-session.js';
import { type DataDirEntry, dataDirEntries, relationSegment } from './data-dir-files.js';
import { openDataFile, readDataFile } from './data-file-reader.js';
import { PAGE_SIZE } from './page-checksum.js';
import { type TarEntry, tarOfEntries } from './tar-of-entries.js';
import { labelTimeline, walSegmentsBetween } from './wal-segments.js';

/** Data objects read at once by default: files are spread over this many tars, each read in turn. */
export const DEFAULT_READERS = 4;

/** The member taken after pg_backup_stop, with backup_label and the WAL: recovery reads it first. */
const CONTROL_FILE = 'global/pg_control';

/** A page whose checksum is wrong: the file, relative to the data directory, and its block number. */
export interface CorruptPage {
  readonly file: string;
  readonly block: number;
}

export interface OwnBackupOptions {
  readonly dataDir: string;
  readonly exportId: string;
  /** Tars written at once. Default: DEFAULT_READERS. */
  readonly readers?: number;
  readonly signal?: AbortSignal;
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
 */
export async function ownBaseBackup(
  writer: ArtifactWriter,
  source: ExportSource,
  options: OwnBackupOptions,
): Promise<ExportResult> {
  const { dataDir, signal } = options;
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
    const entries: DataDirEntry[] = [];
    for await (const entry of dataDirEntries(dataDir)) {
      if (entry.path !== CONTROL_FILE) entries.push(entry);
    }
    const lanes = spread(entries, options.readers ?? DEFAULT_READERS);
    const member = (entry: DataDirEntry) =>
      memberOf(dataDir, entry, start.dataChecksums ? startLsn : undefined, corruptPages);
    await Promise.all(
      lanes.map((lane, index) => writer.saveStream(`data-${index}.tar`, tarOfEntries(members(lane, member)))),
    );
    const stop = await session.stop();
    const timeline = labelTimeline(stop.backupLabel);
    const segments = walSegmentsBetween(start.startLsn, stop.stopLsn, timeline, start.walSegmentSize);
    const now = Date.now();
    const fileNamed = (path: string): DataDirEntry => ({
      path,
      type: 'file',
      mode: 0o600,
      size: 0,
      mtimeMs: now,
    });
    await writer.saveStream(
      'finish.tar',
      tarOfEntries(
        (async function* () {
          yield textMember('backup_label', stop.backupLabel, now);
          if (stop.tablespaceMap !== '') yield textMember('tablespace_map', stop.tablespaceMap, now);
          for (const path of [CONTROL_FILE, ...segments.map((name) => `pg_wal/${name}`)]) {
            const found = await member(fileNamed(path));
            if (found === undefined)
              throw new Error(`${join(dataDir, path)}, which the backup needs, is gone`);
            yield found;
          }
        })(),
      ),
    );
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
      },
    };
  } finally {
    await session.close();
  }
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

/**
 * The tar member of one entry; a file is opened now and read as the tar takes it (its
 * size as it is now), undefined when it is gone. With `checkFrom` (data checksums on),
 * a relation file's pages are checked, corrupt ones added to `corrupt`.
 */
async function memberOf(
  dataDir: string,
  entry: DataDirEntry,
  checkFrom: bigint | undefined,
  corrupt: CorruptPage[],
): Promise<TarEntry | undefined> {
  const common = { name: entry.path, mode: entry.mode, mtime: new Date(entry.mtimeMs) };
  if (entry.type === 'directory') return { ...common, type: 'directory' };
  if (entry.type === 'symlink') return { ...common, type: 'symlink', target: entry.target ?? '' };
  const file = await openDataFile(join(dataDir, entry.path));
  if (file === undefined) return undefined;
  const segment = checkFrom === undefined ? undefined : relationSegment(entry.path);
  const check =
    segment === undefined || checkFrom === undefined
      ? undefined
      : {
          segment,
          startLsn: checkFrom,
          onCorrupt: (block: number) => corrupt.push({ file: entry.path, block }),
        };
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
