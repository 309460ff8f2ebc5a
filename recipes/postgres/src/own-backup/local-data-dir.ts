import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceLocation } from '@pullback/pipeline/core';
import type { ServerFacts } from '../server-facts.js';

/**
 * Whether this agent may take the backup itself by reading `instance.dataDir`, and if
 * not, why. It may when the directory's pg_control can be read here and names the
 * same system identifier as the server the export connected to (so it is that
 * server's data directory on this host, not a same-named path elsewhere), the server
 * is a primary (a standby's backup ends differently), and it has no tablespaces
 * (those go through pg_basebackup).
 */
export async function whyNotLocal(
  instance: InstanceLocation,
  facts: ServerFacts,
): Promise<string | undefined> {
  if (facts.inRecovery) return 'the server is a standby';
  if (facts.tablespaces > 0) return `the server has ${facts.tablespaces} tablespace(s)`;
  const control = join(instance.dataDir, 'global', 'pg_control');
  let identifier: string;
  try {
    const handle = await open(control, 'r');
    try {
      const head = Buffer.alloc(8);
      await handle.read(head, 0, 8, 0);
      identifier = head.readBigUInt64LE(0).toString();
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `${control} cannot be read here (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  if (identifier !== facts.systemIdentifier) {
    return `${control} belongs to system ${identifier}, the server is ${facts.systemIdentifier}`;
  }
  return undefined;
}
