import { type ArtifactManifest, type ExportInput, RecipeError } from '@pullback/pipeline/core';
import { conninfo, describeEndpoint } from './connection.js';
import { spawnDataTool } from './data-tool.js';
import { encodeDatabaseName } from './database-names.js';
import { tarOfParts } from './parts-tar.js';
import { queryJson } from './query.js';
import { type PostgresRecipeOptions, runExport } from './run-export.js';
import { serverFacts } from './server-facts.js';
import { sqlLiteral } from './sql-literal.js';
import { pgTool } from './tools.js';

/** The tree a logical snapshot restores (members of its tar objects). */
export const GLOBALS_MEMBER = 'globals.sql';
export const DATABASES_DIR = 'databases';

/** A database as a logical export records it. */
export interface DumpedDatabase {
  readonly name: string;
  /** The data object holding it, `<exportId>/databases/<oid>.tar`. */
  readonly object: string;
  /** The directory of its parts in the restored tree, `databases/<encoded name>.dump`. */
  readonly member: string;
}

/**
 * Exports every database that accepts connections, except templates (or those of
 * `input.databases`, each of which must be there), with
 * `pg_dump -Fc -Z0` (custom format, uncompressed, so the archive's chunking dedups
 * unchanged tables and compresses once), one object each, and the roles and
 * tablespaces with `pg_dumpall --globals-only`. Each dump streams into a tar of
 * parts (see tarOfParts): a tar member's size must be known before its bytes.
 */
export async function exportLogical(
  input: ExportInput,
  options: PostgresRecipeOptions = {},
): Promise<ArtifactManifest> {
  return runExport(input, 'logical', options, async (writer, { endpoint, facts: before, queryOptions }) => {
    const { signal } = input;
    const databases = await queryJson<{ oid: number; name: string }[]>(
      endpoint,
      `select coalesce(json_agg(json_build_object('oid', oid, 'name', datname) order by datname), '[]')
         from pg_database where not datistemplate and datallowconn${
           input.databases === undefined
             ? ''
             : ` and datname in (${input.databases.map((name) => sqlLiteral(name)).join(', ')})`
         }`,
      queryOptions,
    );
    const missing = (input.databases ?? []).filter((name) => !databases.some((d) => d.name === name));
    if (missing.length > 0) {
      throw new RecipeError(
        `${describeEndpoint(endpoint)} has no database ${missing.map((name) => JSON.stringify(name)).join(', ')} to dump (or it takes no connections)`,
        { permanent: true, hint: "check the component's logical.databases in the config" },
      );
    }
    const spawnOptions = signal === undefined ? {} : { signal };
    const partOptions = options.partSize === undefined ? {} : { partSize: options.partSize };
    const dumped: DumpedDatabase[] = [];
    for (const database of databases) {
      const member = `${DATABASES_DIR}/${encodeDatabaseName(database.name)}.dump`;
      const tool = spawnDataTool(
        `pg_dump of database ${JSON.stringify(database.name)} on ${describeEndpoint(endpoint)}`,
        await pgTool('pg_dump', options.binDir),
        ['--dbname', conninfo(endpoint, database.name), '--no-password', '--format=custom', '--compress=0'],
        spawnOptions,
      );
      const object = `${DATABASES_DIR}/${database.oid}.tar`;
      try {
        await writer.saveStream(object, tarOfParts(tool.stdout, member, partOptions), { check: tool.exited });
      } catch (error) {
        throw await tool.explain(error);
      } finally {
        tool.kill();
      }
      dumped.push({ name: database.name, object: `${writer.exportId}/${object}`, member });
    }
    const globals = spawnDataTool(
      `pg_dumpall --globals-only on ${describeEndpoint(endpoint)}`,
      await pgTool('pg_dumpall', options.binDir),
      ['--dbname', conninfo(endpoint), '--no-password', '--globals-only'],
      spawnOptions,
    );
    try {
      await writer.saveStream('globals.tar', tarOfParts(globals.stdout, GLOBALS_MEMBER, partOptions), {
        check: globals.exited,
      });
    } catch (error) {
      throw await globals.explain(error);
    } finally {
      globals.kill();
    }
    const after = await serverFacts(endpoint, queryOptions);
    return {
      server: {
        systemIdentifier: before.systemIdentifier,
        timeline: after.timeline,
        startLsn: before.lsn,
        endLsn: after.lsn,
        serverVersion: before.serverVersion,
      },
      details: { databases: dumped, globals: GLOBALS_MEMBER },
    };
  });
}
