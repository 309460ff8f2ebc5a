import { RecipeError } from '@pullback/pipeline/core';
import { describeEndpoint, type PgEndpoint } from './connection.js';
import { type QueryOptions, query } from './query.js';
import { sqlLiteral } from './sql-literal.js';

/**
 * Makes the active's `synchronous_standby_names` fit the receiver's mode. Synchronous:
 * it must name the receiver (`"<name>"`); when empty it is set with ALTER SYSTEM; when
 * it names other standbys only, that is refused (never a silent asynchronous
 * receiver). Asynchronous: the setting is reset only when it is exactly what the
 * receiver set (in postgresql.auto.conf), so an operator's own setting stays.
 */
export async function configureSyncStandby(
  endpoint: PgEndpoint,
  name: string,
  synchronous: boolean,
  options: QueryOptions = {},
): Promise<void> {
  const quoted = `"${name}"`;
  const [current = '', sourceFile = ''] = (
    await query(
      endpoint,
      `select setting, coalesce(sourcefile, '') from pg_settings where name = 'synchronous_standby_names'`,
      options,
    )
  ).split('|');
  const setByUs = current === quoted && sourceFile.endsWith('postgresql.auto.conf');
  if (synchronous) {
    if (namesStandby(current, name)) return;
    if (current.trim() !== '') {
      throw new RecipeError(
        `synchronous_standby_names on ${describeEndpoint(endpoint)} is ${JSON.stringify(current)}: it does not name the wal receiver ${quoted}`,
        { hint: `add ${quoted} to it, or set wal.synchronous to false` },
      );
    }
    // ALTER SYSTEM refuses to run in a transaction block, which several statements in one query are.
    await query(endpoint, `alter system set synchronous_standby_names = ${sqlLiteral(quoted)}`, options);
    await query(endpoint, 'select pg_reload_conf()', options);
    return;
  }
  if (setByUs) {
    await query(endpoint, 'alter system reset synchronous_standby_names', options);
    await query(endpoint, 'select pg_reload_conf()', options);
  }
}

/** Whether a synchronous_standby_names value mentions `name` (quoted or not, case-insensitive as PostgreSQL matches). */
function namesStandby(setting: string, name: string): boolean {
  const words = setting.toLowerCase().match(/"[^"]*"|[^\s,()]+/g) ?? [];
  return words.some((word) => word.replace(/^"|"$/g, '') === name.toLowerCase());
}
