import { type ExportInput, type Recipe, RecipeError, type RestoreTarget } from '@pullback/pipeline/core';
import { startAudit } from './audit-server.js';
import { exportLogical } from './export-logical.js';
import { exportPhysical } from './export-physical.js';
import { serverAccount } from './os-user.js';
import { restoreToPoint } from './point-in-time.js';
import { postmasterStatus } from './postmaster.js';
import { replayPosition } from './replay-position.js';
import { createRestorePoint } from './restore-point.js';
import { type PostgresRecipeOptions, RECIPE_NAME } from './run-export.js';
import { ensureDataDir, stopServer } from './server-control.js';
import { retargetStandby, type StandbyOptions, startStandby } from './standby.js';
import { walSpoolOf } from './wal-spool.js';
import { streamWal } from './wal-stream.js';

/** Settings of the import side that are not in the config. */
export interface PostgresImportOptions {
  /** unix_socket_directories of fallbacks, and how the checks reach them. Default: /var/run/postgresql. */
  readonly socketDir?: string;
  /** Where a fallback's server writes its log. Default: `<dataDir>/log/postmaster.log`. */
  readonly logFile?: string;
  /** Settings every fallback gets in postgresql.auto.conf. */
  readonly settings?: Readonly<Record<string, string>>;
  /** pg_verifybackup before starting a fallback. Default: true. */
  readonly verify?: boolean;
  /** Seconds to wait for a fallback to accept connections. Default: 300. */
  readonly startTimeoutSeconds?: number;
}

/**
 * The PostgreSQL recipe. Exports are physical (pg_basebackup, restored on fallbacks
 * as hot standbys) or logical (pg_dump per database + globals, for audits); imports
 * take physical snapshots only.
 */
export function postgresRecipe(options: PostgresRecipeOptions & PostgresImportOptions = {}): Recipe {
  const local = {
    ...(options.osUser === undefined ? {} : { osUser: options.osUser }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
  };
  return {
    name: RECIPE_NAME,
    kinds: ['physical', 'logical'],
    importKinds: ['physical'],

    export: (input: ExportInput) =>
      (input.kind ?? 'physical') === 'logical'
        ? exportLogical(input, options)
        : exportPhysical(input, options),

    async beforeRestore(target: RestoreTarget) {
      const signal = target.signal === undefined ? {} : { signal: target.signal };
      // A fallback running on files about to be rewritten would corrupt them.
      await stopServer({ dataDir: target.instance.dataDir, ...local, ...signal });
      await ensureDataDir(target.instance.dataDir, await serverAccount(options.osUser));
    },

    async afterRestore(target: RestoreTarget) {
      const standby: StandbyOptions = {
        dataDir: target.instance.dataDir,
        port: target.instance.port,
        listenAddresses: target.instance.host,
        ...local,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.socketDir === undefined ? {} : { socketDir: options.socketDir }),
        ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
        ...(options.settings === undefined ? {} : { settings: options.settings }),
        ...(options.verify === undefined ? {} : { verify: options.verify }),
        ...(options.startTimeoutSeconds === undefined ? {} : { timeoutSeconds: options.startTimeoutSeconds }),
        ...(target.upstream === undefined
          ? {}
          : { primary: { user: options.user ?? 'postgres', ...target.upstream } }),
        ...(target.restoreCommand === undefined ? {} : { restoreCommand: target.restoreCommand }),
        ...(target.archivedWal === true ? { walSpool: true } : {}),
        ...(target.signal === undefined ? {} : { signal: target.signal }),
      };
      try {
        return await startStandby(standby);
      } catch (error) {
        const name = target.instance.name ?? target.instance.dataDir;
        throw new RecipeError(`fallback ${name} of ${target.component}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },

    async retarget(target: RestoreTarget) {
      await retargetStandby({
        dataDir: target.instance.dataDir,
        ...local,
        ...(target.upstream === undefined
          ? {}
          : { primary: { user: options.user ?? 'postgres', ...target.upstream } }),
        ...(target.restoreCommand === undefined ? {} : { restoreCommand: target.restoreCommand }),
        ...(target.archivedWal === true ? { walSpool: true } : {}),
        ...(target.signal === undefined ? {} : { signal: target.signal }),
      });
    },

    position: (instance, extra = {}) =>
      replayPosition({
        dataDir: instance.dataDir,
        port: instance.port,
        ...local,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.socketDir === undefined ? {} : { socketDir: options.socketDir }),
        ...(extra.signal === undefined ? {} : { signal: extra.signal }),
        ...(extra.upstream === undefined
          ? {}
          : { upstream: { user: options.user ?? 'postgres', ...extra.upstream } }),
      }),

    walSpool: (instance) => walSpoolOf(instance.dataDir),

    startAudit,

    restoreToPoint,

    createRestorePoint: (instance, name, extra = {}) =>
      createRestorePoint(instance, name, {
        ...local,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(extra.signal === undefined ? {} : { signal: extra.signal }),
      }),

    streamWal: (input) => streamWal(input, options),

    localServers: {
      async status(dataDir) {
        const { running, pid } = await postmasterStatus(dataDir);
        return { running, ...(pid === undefined ? {} : { pid }) };
      },
      async stop(dataDir, extra = {}) {
        await stopServer({ dataDir, ...local, ...extra });
      },
    },
  };
}
