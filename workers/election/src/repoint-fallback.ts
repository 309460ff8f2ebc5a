import type { InstanceConfig } from '@pullback/pipeline';
import { conninfo, query } from '@pullback/recipe-postgres';

/**
 * Points fallback `instance` at `newActive` (docs/election.md "Activation" step 7):
 * `primary_conninfo` set with ALTER SYSTEM and the configuration reloaded, the change
 * recipes/postgres `retargetStandby` makes to postgresql.auto.conf, made over SQL so
 * that it works from whichever host activates. Its WAL source from the archive
 * (`restore_command`, the import agent's spool) is left as it is; with
 * `recovery_target_timeline = 'latest'` (standby.ts) it follows the new timeline.
 */
export async function repointFallback(
  instance: InstanceConfig,
  newActive: InstanceConfig,
  user = 'postgres',
  signal?: AbortSignal,
): Promise<void> {
  const endpoint = { host: instance.host, port: instance.port, user };
  const options = { statementTimeoutMs: 10_000, ...(signal === undefined ? {} : { signal }) };
  const primary = conninfo({ host: newActive.host, port: newActive.port, user }, 'postgres', {});
  // Two statements: ALTER SYSTEM refuses to run inside the implicit transaction of a multi-statement query.
  await query(endpoint, `alter system set primary_conninfo = ${sqlString(primary)}`, options);
  await query(endpoint, 'select pg_reload_conf()', options);
}

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
