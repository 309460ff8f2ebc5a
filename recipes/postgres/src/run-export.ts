import {
  type ArtifactKind,
  type ArtifactManifest,
  ArtifactWriter,
  checkExportId,
  type ExportInput,
  type OwnBackupChoice,
  RecipeError,
  type ServerPosition,
} from '@pullback/pipeline/core';
import type { PgEndpoint } from './connection.js';
import type { QueryOptions } from './query.js';
import { type ServerFacts, serverFacts } from './server-facts.js';

export const RECIPE_NAME = 'postgres';

/** Settings of the postgres recipe that are not in the config. */
export interface PostgresRecipeOptions {
  /** The role exports connect as (needs REPLICATION and pg_monitor, or superuser). Default: `postgres`. */
  readonly user?: string;
  /** Where PostgreSQL's programs are. Default: the newest /usr/lib/postgresql/<major>/bin, else PATH. */
  readonly binDir?: string;
  /** The operating-system account servers run as. Default: `postgres`. */
  readonly osUser?: string;
  /** Logical exports: most bytes of one dump held in memory (dumps are cut into parts of this size). Default: 8 MiB. */
  readonly partSize?: number;
  /**
   * Physical exports: take the backup itself when the instance's data directory is on
   * this host (docs/exports.md, "The agent's own export"), else pg_basebackup
   * (`'where-possible'`: without a warning). Default: false (a pipeline's config asks
   * for `'where-possible'` unless it says otherwise).
   */
  readonly ownBackup?: OwnBackupChoice;
  /** The agent's own backup: files read at once, one tar each. Default: 4. */
  readonly readers?: number;
  /** The agent's own backup: a full read at least this often (ms), incremental ones between. Default: a week. */
  readonly fullReadEveryMs?: number;
  /**
   * Physical exports of a server with tablespaces: where pg_basebackup's tars wait to
   * be streamed into the outbox (room for one backup). Default: the OS's temp directory.
   */
  readonly stagingDir?: string;
}

/** A week. */
export const DEFAULT_FULL_READ_EVERY_MS = 7 * 24 * 3600 * 1000;

/** What an export body is given about the server it exports. */
export interface ExportSource {
  readonly endpoint: PgEndpoint;
  /** The server's identity, position and size, read before the body runs. */
  readonly facts: ServerFacts;
  /** The export's signal and binDir, for the body's queries. */
  readonly queryOptions: QueryOptions;
}

/** What an export body hands back for COMPLETE. */
export interface ExportResult {
  readonly server: ServerPosition;
  /** Physical: the tablespaces carried, OID to location. */
  readonly tablespaces?: Readonly<Record<string, string>>;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The files went into the archive in place (`ExportInput.inPlace`): nothing is committed to the outbox. */
  readonly archivedInPlace?: boolean;
}

/**
 * The frame of every postgres export: checks the input, returns an already complete
 * artifact as it is, reads the server's facts (its size is the writer's bytesTotal),
 * runs `body`, commits (unless the body archived in place: then the manifest is
 * returned with no objects and nothing is left in the outbox), and on any failure
 * removes what was written and rejects with one line naming the export.
 */
export async function runExport(
  input: ExportInput,
  kind: ArtifactKind,
  options: PostgresRecipeOptions,
  body: (writer: ArtifactWriter, source: ExportSource) => Promise<ExportResult>,
): Promise<ArtifactManifest> {
  checkExportId(input.exportId);
  const what = `export ${input.exportId} of ${input.component}`;
  if (input.instance === undefined) {
    throw new RecipeError(`${what}: no instance to export`, {
      permanent: true,
      hint: 'a postgres component needs an active instance',
    });
  }
  const endpoint: PgEndpoint = {
    host: input.instance.host,
    port: input.instance.port,
    user: options.user ?? 'postgres',
  };
  const queryOptions: QueryOptions = {
    ...(input.signal === undefined ? {} : { signal: input.signal }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
  };
  const begun = await ArtifactWriter.begin(input).catch((error: unknown) => {
    throw new RecipeError(`${what}: cannot prepare ${input.outbox.location}: ${(error as Error).message}`, {
      cause: error,
    });
  });
  if (!(begun instanceof ArtifactWriter)) return begun;
  const writer = begun;
  try {
    const facts = await serverFacts(endpoint, queryOptions);
    writer.bytesTotal = facts.bytes;
    const result = await body(writer, { endpoint, facts, queryOptions });
    const fields = {
      component: input.component,
      recipe: RECIPE_NAME,
      kind,
      server: result.server,
      ...(result.tablespaces === undefined ? {} : { tablespaces: result.tablespaces }),
      ...(result.details === undefined ? {} : { details: result.details }),
    };
    if (result.archivedInPlace !== true) return await writer.commit(fields);
    await writer.discard();
    return writer.describe(fields);
  } catch (error) {
    const cleanup = await writer.discardAfterFailure();
    if (error instanceof RecipeError) {
      throw new RecipeError(`${what}: ${error.message}${cleanup}`, {
        cause: error,
        permanent: error.permanent,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
      });
    }
    const message = (error as Error).message;
    throw new RecipeError(`${what}: ${message}${cleanup}`, {
      cause: error,
      ...(/connection to server .* failed/.test(message)
        ? { hint: 'check that the active runs and that its host and port in the config are right' }
        : {}),
    });
  }
}
