import { conninfo, describeEndpoint, type PgEndpoint } from './connection.js';
import type { OsAccount } from './os-user.js';
import { runTool } from './run-tool.js';
import { pgTool } from './tools.js';

/**
 * Runs `sql` through psql as `account` and returns its unaligned, tuples-only output,
 * trimmed. Only for a login the driver cannot make: `peer` authentication on a Unix
 * socket checks the connecting process's account, and this process (root) is not the
 * server's (query.ts).
 */
export async function psqlAs(
  account: OsAccount,
  endpoint: PgEndpoint,
  sql: string,
  options: { database?: string; binDir?: string; signal?: AbortSignal },
): Promise<string> {
  const psql = await pgTool('psql', options.binDir);
  const output = await runTool(
    `psql on ${describeEndpoint(endpoint)}`,
    [
      psql,
      '-X',
      '-A',
      '-t',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      conninfo(endpoint, options.database),
      '-c',
      sql,
    ],
    { as: account, ...(options.signal === undefined ? {} : { signal: options.signal }) },
  );
  return output.trim();
}
