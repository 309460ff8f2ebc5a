import type { ArtifactManifest, ExportInput } from '@pullback/pipeline/core';
import { walRangesOf } from './backup-manifest.js';
import { conninfo, describeEndpoint } from './connection.js';
import { spawnDataTool } from './data-tool.js';
import { exportWithTablespaces } from './export-tablespaces.js';
import { type ExportRecord, readExportRecord, writeExportRecord } from './own-backup/export-record.js';
import { advanceExportSlot, dropExportSlot } from './own-backup/export-slot.js';
import { whyNotLocal } from './own-backup/local-data-dir.js';
import { type OwnBackupResult, ownBaseBackup } from './own-backup/own-base-backup.js';
import {
  DEFAULT_FULL_READ_EVERY_MS,
  type ExportResult,
  type ExportSource,
  type PostgresRecipeOptions,
  runExport,
} from './run-export.js';
import type { ServerFacts } from './server-facts.js';
import { TarCheck } from './tar-check.js';
import { pgTool } from './tools.js';

/** The physical artifact's one data object: the data directory as pg_basebackup's tar. */
export const BASE_OBJECT = 'base.tar';

/**
 * Exports the instance as a base backup: `pg_basebackup` writes the data directory as
 * one tar on stdout (WAL needed for consistency in pg_wal, the backup_manifest with
 * CRC32C checksums as its last member: enough to catch corruption, which is what
 * pg_verifybackup checks them for, and SHA-256 cost the server 1 s per 1.6 GB), streamed into `<exportId>/base.tar`. The
 * tar is parsed as it passes, so a truncated one is never saved; COMPLETE records the
 * system identifier, timeline and WAL range from the manifest. A server with
 * tablespaces goes through a staging directory instead (`exportWithTablespaces`):
 * one more tar per tablespace, each under `pg_tblspc/<oid>` in the tree, with its
 * location in COMPLETE's `tablespaces`.
 */
export async function exportPhysical(
  input: ExportInput,
  options: PostgresRecipeOptions = {},
): Promise<ArtifactManifest> {
  let record: OwnBackupResult['record'] | undefined;
  let recordSource: ExportSource | undefined;
  const manifest = await runExport(input, 'physical', options, async (writer, source) => {
    const { endpoint, facts } = source;
    const { signal } = input;
    const ownBackup = input.ownBackup ?? options.ownBackup ?? false;
    if (ownBackup !== false && input.instance !== undefined) {
      const why = await whyNotLocal(input.instance, facts);
      if (why === undefined) {
        const previous = await previousExport(input, facts.systemIdentifier, options);
        const result = await ownBaseBackup(writer, source, {
          dataDir: input.instance.dataDir,
          component: input.component,
          exportId: input.exportId,
          ...(previous === undefined ? {} : { previous }),
          keepWal: input.stateDir !== undefined,
          ...(input.inPlace === undefined ? {} : { inPlace: input.inPlace }),
          ...(options.readers === undefined ? {} : { readers: options.readers }),
          ...(signal === undefined ? {} : { signal }),
        });
        record = result.record;
        recordSource = source;
        return result;
      }
      if (ownBackup === true) {
        input.onWarning?.(
          `export ${input.exportId}: pg_basebackup instead of the agent's own backup: ${why}`,
        );
      }
    }
    // No own export here builds on this one: no WAL is kept for it.
    if (!facts.inRecovery) {
      await dropExportSlot(endpoint, input.component, source.queryOptions).catch((error: unknown) =>
        input.onWarning?.(
          `export ${input.exportId}: the own export's slot cannot be dropped (${(error as Error).message})`,
        ),
      );
    }
    if (facts.tablespaces > 0) {
      const staged = await exportWithTablespaces(input, options, writer, source);
      return {
        ...positionOf(staged.manifestTail, facts),
        tablespaces: staged.tablespaces,
        details: {
          tarMembers: staged.tarMembers,
          walRanges: walRangesOf(staged.manifestTail),
          fromStandby: facts.inRecovery,
        },
      };
    }
    const tool = spawnDataTool(
      `pg_basebackup from ${describeEndpoint(endpoint)}`,
      await pgTool('pg_basebackup', options.binDir),
      [
        '--dbname',
        conninfo(endpoint),
        '--no-password',
        '--pgdata=-',
        '--format=tar',
        '--wal-method=fetch',
        '--manifest-checksums=CRC32C',
        '--checkpoint=fast',
        `--label=pullback ${input.exportId}`,
      ],
      signal === undefined ? {} : { signal },
    );
    const tar = new TarCheck({
      required: ['PG_VERSION', 'global/pg_control', 'backup_label', 'backup_manifest'],
      keepTailOf: 'backup_manifest',
    });
    try {
      await writer.saveStream(BASE_OBJECT, tool.stdout, { transforms: [tar], check: tool.exited });
    } catch (error) {
      throw await tool.explain(error);
    } finally {
      tool.kill();
    }
    return {
      ...positionOf(tar.tailOf(), facts),
      details: {
        tarMembers: tar.members,
        walRanges: walRangesOf(tar.tailOf()),
        fromStandby: facts.inRecovery,
      },
    };
  });
  // Only once the artifact (or the snapshot made in place) is committed does it become the next export's parent.
  if (record !== undefined && recordSource !== undefined && input.stateDir !== undefined) {
    // Without a record the next export reads everything: slower, never wrong.
    const written = await writeExportRecord(input.stateDir, record).then(
      () => true,
      (error: unknown) => {
        input.onWarning?.(
          `export ${input.exportId}: the record for the next export cannot be written (${(error as Error).message}); it will read everything`,
        );
        return false;
      },
    );
    // The WAL before this export's start is no longer needed to find what changed.
    if (written) {
      await advanceExportSlot(
        recordSource.endpoint,
        input.component,
        record.startLsn,
        recordSource.queryOptions,
      ).catch((error: unknown) =>
        input.onWarning?.(
          `export ${input.exportId}: the own export's slot cannot be advanced (${(error as Error).message}); it holds WAL until the next export`,
        ),
      );
    }
  }
  return manifest;
}

/**
 * The record of the previous export on this host, when the next one may build on it:
 * not `--full`, the same server lineage, and the last full read more recent than the
 * schedule of full reads. Otherwise the export reads everything.
 */
async function previousExport(
  input: ExportInput,
  systemIdentifier: string,
  options: PostgresRecipeOptions,
): Promise<ExportRecord | undefined> {
  if (input.stateDir === undefined || input.full === true) return undefined;
  const record = await readExportRecord(input.stateDir, input.component);
  if (record === undefined || record.systemIdentifier !== systemIdentifier) return undefined;
  // The caller knows the archive's newest export: the record must be of it.
  if (input.newestExportId !== undefined && input.newestExportId !== record.exportId) return undefined;
  const fullReadEveryMs = input.fullReadEveryMs ?? options.fullReadEveryMs ?? DEFAULT_FULL_READ_EVERY_MS;
  return Date.now() - record.fullReadAtMs < fullReadEveryMs ? record : undefined;
}

/** The server's position a backup_manifest's end gives. */
function positionOf(manifestTail: Buffer, facts: ServerFacts): Pick<ExportResult, 'server'> {
  const ranges = walRangesOf(manifestTail);
  const first = ranges[0];
  const last = ranges.at(-1);
  if (first === undefined || last === undefined) {
    throw new Error('the backup_manifest lists no WAL-Ranges');
  }
  return {
    server: {
      systemIdentifier: facts.systemIdentifier,
      timeline: last.timeline,
      startLsn: first.startLsn,
      endLsn: last.endLsn,
      serverVersion: facts.serverVersion,
    },
  };
}
