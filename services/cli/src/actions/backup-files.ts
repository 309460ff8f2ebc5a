import { backupTree } from '@pullback/archive';
import { FILES_KIND, snapshotTags } from '@pullback/pipeline/snapshot-description';
import picomatch from 'picomatch';
import type { ArchiveFlags } from '../archive-access.js';
import type { CommandContext } from '../context.js';
import { skippedEntries } from '../errors.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { formatBytes, progressDisplay } from '../progress-display.js';

export interface BackupFilesOptions extends ArchiveFlags {
  readonly exclude?: readonly string[];
  readonly json?: boolean;
  readonly force?: boolean;
}

/** `pullback backup files PATH`: one snapshot of a directory tree, straight into the archive. */
export async function backupFiles(
  path: string,
  options: BackupFilesOptions,
  context: CommandContext,
): Promise<void> {
  const { archive } = await openArchiveFromFlags(options, context);
  const excluded = options.exclude?.length ? exclusionOf(options.exclude) : undefined;
  const progress = progressDisplay(context, 'backup');
  try {
    const snapshot = await backupTree(archive, path, {
      // The files recipe's tags, so that both ways of backing up a tree describe it alike.
      tags: snapshotTags({ component: 'files', recipe: 'files', kind: FILES_KIND }),
      ...(excluded === undefined ? {} : { exclude: excluded }),
      ...(options.force ? { force: true } : {}),
      onProgress: progress.update,
      onWarning: (message) => progress.say(`pullback: warning: ${message}`),
      signal: context.signal,
    });
    progress.stop();
    const { stats } = snapshot;
    if (options.json) {
      context.stdout.write(`${JSON.stringify(snapshot, null, 2)}\n`);
    } else {
      context.stdout.write(
        `snapshot ${snapshot.id.slice(0, 12)} of ${snapshot.paths[0]}: ${stats.files} files, ` +
          `${formatBytes(stats.logicalBytes)}, ${formatBytes(stats.newBytesStored)} newly stored, ` +
          `${(stats.durationMs / 1000).toFixed(1)} s\n`,
      );
    }
    if (stats.skipped > 0) throw skippedEntries(stats.skipped);
  } finally {
    progress.stop();
  }
}

/**
 * Whether a path (relative to the backed-up tree) is excluded: a pattern with a slash
 * is matched against the path, one without against each name, at any depth (as
 * restic and .gitignore do). Two matchers, because picomatch's `basename` option
 * also bends patterns that have a slash.
 */
function exclusionOf(patterns: readonly string[]): (path: string) => boolean {
  const anchored = patterns.filter((pattern) => pattern.includes('/'));
  const names = patterns.filter((pattern) => !pattern.includes('/'));
  const matchPath = anchored.length > 0 ? picomatch(anchored, { dot: true }) : () => false;
  const matchName = names.length > 0 ? picomatch(names, { dot: true, basename: true }) : () => false;
  return (path) => matchPath(path) || matchName(path);
}
