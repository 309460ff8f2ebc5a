import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const RECORD_FORMAT = 'pullback-export-record/1';

/**
 * The agent's record of the previous export it took on this host, kept in its state
 * directory: what the next export compares the data directory with. It names no
 * archive key and no snapshot: the active's host can still neither read nor delete
 * history. The pull checks the parent it names against the archive.
 */
export interface ExportRecord {
  readonly format: typeof RECORD_FORMAT;
  readonly component: string;
  readonly systemIdentifier: string;
  /** The export this record describes: the parent of the next incremental one. */
  readonly exportId: string;
  /** Its backup's start LSN: a page whose LSN is not older has changed since. */
  readonly startLsn: string;
  /** The timeline its backup started on: the WAL since is read on it. Absent in older records. */
  readonly timeline?: number;
  /** When its backup started (ms): a file modified since may have been read before its last write. */
  readonly startedAtMs: number;
  /** When the last full read was (ms): the schedule of full reads counts from it. */
  readonly fullReadAtMs: number;
  /** Each file copied, by path: [size, mtime in ms] when it was listed. */
  readonly files: Readonly<Record<string, readonly [number, number]>>;
}

/** Where component `component`'s record is. */
export function recordPath(stateDir: string, component: string): string {
  return join(stateDir, 'postgres', `${component}.export-record.json`);
}

/** The record, or undefined when there is none or it cannot be read (the next export is then full). */
export async function readExportRecord(
  stateDir: string,
  component: string,
): Promise<ExportRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(stateDir, component), 'utf8')) as ExportRecord;
    return record.format === RECORD_FORMAT && record.component === component ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the record at once (a crash leaves the old one or the new one, never half of one). */
export async function writeExportRecord(
  stateDir: string,
  record: Omit<ExportRecord, 'format'>,
): Promise<void> {
  const path = recordPath(stateDir, record.component);
  await mkdir(join(stateDir, 'postgres'), { recursive: true, mode: 0o700 });
  await writeFile(`${path}.tmp`, JSON.stringify({ format: RECORD_FORMAT, ...record }), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
