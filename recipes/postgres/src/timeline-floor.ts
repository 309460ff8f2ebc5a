import { chown, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isRoot, type OsAccount } from './os-user.js';

const HISTORY = /^([0-9A-F]{8})\.history$/;

const historyName = (timeline: number) => `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;

/**
 * Makes the next promotion of the standby of `dataDir` choose a timeline of at least
 * `floor` (docs/election.md "Timelines"). A promotion takes the timeline after the
 * newest whose history file it finds (in the archive or pg_wal), so two standbys
 * promoted one after the other from the same timeline, the first one's history file
 * never archived (it was active for a moment, then fenced), both take the same
 * timeline with different histories: pg_rewind then finds "no rewind required" and
 * the first one, started as a standby of the second, is stuck for good
 * (soak:election saw it). Promoting at epoch E with floor E gives each activation a
 * timeline of its own, since epochs only grow.
 *
 * It writes, in pg_wal, a history file for each timeline from the newest there up to
 * `floor - 1`: each names the newest as its parent with a switch point no WAL reaches
 * (FFFFFFFF/FFFFFFFF), so a server that reads one keeps following its own timeline.
 * Returns the files written, for `releaseTimelineFloor` should the promotion fail.
 */
export async function holdTimelineFloor(
  dataDir: string,
  floor: number,
  account: OsAccount | undefined,
): Promise<string[]> {
  const walDir = join(dataDir, 'pg_wal');
  const timelines = (await readdir(walDir))
    .map((name) => HISTORY.exec(name)?.[1])
    .filter((hex): hex is string => hex !== undefined)
    .map((hex) => Number.parseInt(hex, 16));
  const newest = Math.max(1, ...timelines);
  if (floor - 1 <= newest) return [];
  // A history file lists every ancestor of its timeline: the newest's, then the newest itself.
  const ancestors = newest === 1 ? '' : await readFile(join(walDir, historyName(newest)), 'utf8');
  const written: string[] = [];
  try {
    for (let timeline = newest + 1; timeline < floor; timeline++) {
      const name = historyName(timeline);
      const text = `${ancestors}${newest}\tFFFFFFFF/FFFFFFFF\tno such timeline: kept free by pullback so that a promotion takes timeline ${floor} or later\n`;
      const aside = join(walDir, `.${name}.pullback`);
      await writeFile(aside, text, { mode: 0o600, flag: 'wx' });
      if (account !== undefined && isRoot()) await chown(aside, account.uid, account.gid);
      await rename(aside, join(walDir, name));
      written.push(join(walDir, name));
    }
  } catch (error) {
    await releaseTimelineFloor(written);
    throw error;
  }
  return written;
}

/** Removes what `holdTimelineFloor` wrote (a promotion that did not happen). */
export async function releaseTimelineFloor(written: readonly string[]): Promise<void> {
  for (const path of written) await rm(path, { force: true });
}
