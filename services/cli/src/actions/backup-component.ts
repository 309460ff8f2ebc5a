import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetSnapshots } from '@pullback/archive';
import {
  backupComponent as backupOnce,
  checkExportKind,
  corruptPagesOf,
  describeSnapshot,
} from '@pullback/pipeline/core';
import { builtInRecipes } from '@pullback/workers/built-in-recipes';
import type { ArchiveFlags } from '../archive-access.js';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError, skippedEntries } from '../errors.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { openStorage } from '../open-storage.js';
import { formatBytes } from '../progress-display.js';
import { stageProgress } from '../stage-progress.js';

export interface BackupComponentOptions extends ArchiveFlags {
  readonly logical?: boolean;
  /** Physical: read everything, whatever the record of the previous export on this host. */
  readonly full?: boolean;
}

/** `pullback backup <component>`: the component's export and pull, once, in this process, without Redis. */
export async function backupComponent(
  component: string,
  options: BackupComponentOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  const componentConfig = config.components[component];
  if (componentConfig === undefined) {
    throw new CliError(
      `no component ${component} in ${path} (it has: ${Object.keys(config.components).join(', ') || 'none'})`,
    );
  }
  const kind = options.logical ? 'logical' : 'physical';
  checkExportKind(component, componentConfig, kind);
  const { archive } = await openArchiveFromFlags(options, context);
  const stagingDir = await mkdtemp(join(tmpdir(), 'pullback-backup-'));
  const progress = stageProgress(context);
  const started = Date.now();
  let skipped = 0;
  try {
    const result = await backupOnce({
      component,
      config: componentConfig,
      recipe: builtInRecipes()(componentConfig),
      // The artifact lives as long as this process (exported, pulled, removed): no fsync.
      outbox: openStorage(componentConfig.outbox, context, { durable: false }),
      archive,
      stagingDir,
      stateDir: config.stateDir,
      kind,
      ...(options.full === true ? { full: true } : {}),
      forget: forgetSnapshots,
      signal: context.signal,
      onProgress: progress.update,
      onWarning: (message) => {
        skipped++;
        progress.say(`pullback: warning: ${message}`);
      },
    });
    progress.stop();
    const { snapshot } = result;
    const { stats } = snapshot;
    context.stdout.write(
      `snapshot ${snapshot.id.slice(0, 12)} of ${component} (${describeSnapshot(snapshot).kind}): ${stats.files} files, ` +
        `${formatBytes(stats.logicalBytes)}, ${formatBytes(stats.newBytesStored)} newly stored, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    // Reported, never a failure: the snapshot holds the pages as the server has them (as pgBackRest does).
    const corrupt = corruptPagesOf(result.export);
    if (corrupt.length > 0) {
      const shown = corrupt.slice(0, 5).map((page) => `${page.file} block ${page.block}`);
      context.stderr.write(
        `pullback: warning: ${corrupt.length} page${corrupt.length === 1 ? '' : 's'} failed the data checksum, in snapshot ${snapshot.id.slice(0, 12)}: ` +
          `${shown.join(', ')}${corrupt.length > shown.length ? ', ...' : ''}\n`,
      );
    }
    if (result.forgotten && result.expired.length > 0) {
      context.stdout.write(
        `retention forgot ${result.expired.length} older snapshot${result.expired.length === 1 ? '' : 's'}\n`,
      );
    }
    if (skipped > 0) throw skippedEntries(skipped);
  } finally {
    progress.stop();
    await rm(stagingDir, { recursive: true, force: true });
  }
}
