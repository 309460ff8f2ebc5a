import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceEntry } from '@pullback/archive';
import { type InPlaceText, inPlaceEntry } from '@pullback/pipeline/core';
import type { BackupStart, BackupStop } from './backup-session.js';
import { labelTimeline, walSegmentsBetween } from './wal-segments.js';

/** The member taken after pg_backup_stop, with backup_label and the WAL: recovery reads it first. */
export const CONTROL_FILE = 'global/pg_control';

/** The data directory itself, the tree's root. */
export async function rootEntry(dataDir: string): Promise<SourceEntry> {
  const stats = await lstat(dataDir);
  return inPlaceEntry({
    path: '',
    type: 'directory',
    absolute: dataDir,
    mode: stats.mode & 0o7777,
    size: 0,
    mtimeMs: stats.mtimeMs,
    uid: stats.uid,
    gid: stats.gid,
  });
}

/**
 * What an in-place backup reads once pg_backup_stop has answered, as `finish.tar` holds
 * it for one staged in the outbox: backup_label and tablespace_map as the server gave
 * them, then pg_control and the WAL segments from the start to the stop LSN, read from
 * the data directory (the session's slot keeps them until it closes). Files written
 * here belong to the data directory's owner, as the others do.
 */
export async function lateEntries(
  dataDir: string,
  start: BackupStart,
  stop: BackupStop,
  owner: { readonly uid: number; readonly gid: number },
): Promise<(SourceEntry | InPlaceText)[]> {
  const now = Date.now();
  const text = (path: string, content: string): InPlaceText => ({
    path,
    text: content,
    mode: 0o600,
    mtimeMs: now,
    uid: owner.uid,
    gid: owner.gid,
  });
  const timeline = labelTimeline(stop.backupLabel);
  const segments = walSegmentsBetween(start.startLsn, stop.stopLsn, timeline, start.walSegmentSize);
  const files = await Promise.all(
    [CONTROL_FILE, ...segments.map((name) => `pg_wal/${name}`)].map(async (path) => {
      const absolute = join(dataDir, path);
      const stats = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') throw new Error(`${absolute}, which the backup needs, is gone`);
        throw error;
      });
      return inPlaceEntry({
        path,
        type: 'file',
        absolute,
        mode: 0o600,
        size: stats.size,
        mtimeMs: now,
        ...owner,
      });
    }),
  );
  return [
    text('backup_label', stop.backupLabel),
    ...(stop.tablespaceMap === '' ? [] : [text('tablespace_map', stop.tablespaceMap)]),
    ...files,
  ];
}
