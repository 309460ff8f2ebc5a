import { join, resolve } from 'node:path';
import type { AuditInput, AuditServer } from '@pullback/pipeline/core';
import { postmasterStatus } from './postmaster.js';
import { queryJson } from './query.js';
import { restoreLogical } from './restore-logical.js';
import { createScratchServer, type ScratchServer } from './scratch-server.js';
import { stopServer } from './server-control.js';
import { startStandby } from './standby.js';
import { pgTool } from './tools.js';

/**
 * `restore --start`: runs a PostgreSQL snapshot read-only on `input.port`. A physical
 * one becomes a hot standby with no upstream and no restore_command: it replays the WAL
 * the base backup carries, stays in recovery, and refuses writes (checked before this
 * returns), so an audit can never fork the history. A logical one is restored as dumps
 * into `<target>/dumps` and replayed into a new scratch cluster in `<target>/pgdata`,
 * which must then hold every database dumped.
 */
export async function startAudit(input: AuditInput): Promise<AuditServer> {
  const target = resolve(input.target);
  const signal = input.signal === undefined ? {} : { signal: input.signal };
  const pgCtl = await pgTool('pg_ctl');

  if (input.snapshot.kind === 'logical') {
    const dumps = join(target, 'dumps');
    const dataDir = join(target, 'pgdata');
    await input.restore(dumps);
    const server = await createScratchServer({ dataDir, port: input.port, ...signal });
    try {
      const databases = await restoreLogical(dumps, server, signal);
      await checkDatabases(server, databases, signal);
      return {
        kind: 'logical',
        port: input.port,
        dataDir,
        pid: (await postmasterStatus(dataDir)).pid,
        // TCP logins on a scratch cluster need a password; its Unix socket is trusted.
        connect: `psql -h ${dataDir} -p ${input.port} -U postgres`,
        stopCommand: asServerAccount(`${pgCtl} stop -D ${dataDir}`),
        databases,
        stop: () => server.stop(),
      };
    } catch (error) {
      await server.stop().catch(() => {});
      throw error;
    }
  }

  await input.restore(target);
  await startStandby({
    dataDir: target,
    port: input.port,
    listenAddresses: '127.0.0.1',
    // Its own data directory: always there, reachable by the server's account, and
    // no dependence on /var/run/postgresql existing on this machine.
    socketDir: target,
    timeoutSeconds: 120,
    ...signal,
  });
  return {
    kind: 'physical',
    port: input.port,
    dataDir: target,
    pid: (await postmasterStatus(target)).pid,
    connect: `psql -h 127.0.0.1 -p ${input.port} -U postgres`,
    stopCommand: asServerAccount(`${pgCtl} stop -D ${target}`),
    stop: async () => {
      await stopServer({ dataDir: target });
    },
  };
}

/**
 * What proves a logical snapshot (a restore drill, `restore --start`): the server it
 * was replayed into runs and has every database the snapshot holds.
 */
async function checkDatabases(
  server: ScratchServer,
  databases: readonly string[],
  options: { signal?: AbortSignal },
): Promise<void> {
  const present = await queryJson<string[]>(
    server.endpoint,
    `select coalesce(json_agg(datname), '[]') from pg_database`,
    { as: server.account, ...options },
  );
  const missing = databases.filter((name) => !present.includes(name));
  if (missing.length > 0) {
    throw new Error(
      `the scratch server on port ${server.port} lacks database ${missing.map((name) => JSON.stringify(name)).join(', ')} after the restore`,
    );
  }
}

/** PostgreSQL's tools refuse root: as root, the command runs as the postgres account. */
function asServerAccount(command: string): string {
  return process.getuid?.() === 0 ? `su postgres -c '${command}'` : command;
}
