import type { InstanceLocation } from '@pullback/pipeline/core';
import { RecipeError } from '@pullback/pipeline/core';
import { describeEndpoint, type PgEndpoint } from './connection.js';
import { query } from './query.js';

/** PostgreSQL keeps a restore point's name in MAXFNAMELEN - 1 bytes. */
const NAME_MAX_BYTES = 63;

/**
 * `restore-point`: pg_create_restore_point on the active, so `restore --name` can stop
 * exactly there. Returns the LSN of the restore point's record.
 */
export async function createRestorePoint(
  instance: InstanceLocation,
  name: string,
  options: { user?: string; binDir?: string; signal?: AbortSignal } = {},
): Promise<string> {
  if (name === '' || Buffer.byteLength(name) > NAME_MAX_BYTES) {
    throw new RecipeError(`restore point name "${name}" must have 1 to ${NAME_MAX_BYTES} bytes`, {
      permanent: true,
    });
  }
  const endpoint: PgEndpoint = { host: instance.host, port: instance.port, user: options.user ?? 'postgres' };
  const literal = `'${name.replace(/'/g, "''")}'`;
  try {
    return await query(endpoint, `select pg_create_restore_point(${literal})::text`, {
      ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (error) {
    throw new RecipeError(
      `restore point ${name} on ${describeEndpoint(endpoint)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
