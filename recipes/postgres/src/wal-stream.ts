import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RecipeError,
  WalPositionGoneError,
  type WalSourceStatus,
  type WalStream,
  type WalStreamInput,
  type WalStreamStart,
} from '@pullback/pipeline/core';
import { conninfo, describeEndpoint, type PgEndpoint } from './connection.js';
import { oneLine } from './one-line.js';
import { exportSlotName } from './own-backup/export-slot.js';
import { type QueryOptions, query } from './query.js';
import type { PostgresRecipeOptions } from './run-export.js';
import { configureSyncStandby } from './sync-standby.js';
import { pgTool } from './tools.js';
import { ensureWalSlot } from './wal-slot.js';
import { walReceiverName, walSourceStatus } from './wal-status.js';

/** How long pg_receivewal may take to flush and exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;
/** How much of pg_receivewal's stderr is kept for its error message. */
const STDERR_TAIL = 4096;

/**
 * The postgres recipe's WAL stream: `pg_receivewal --slot S --no-loop` into the spool,
 * connected to the active as `pullback_<component>` (`--synchronous` in synchronous
 * mode), with the slot and synchronous_standby_names kept right by SQL (wal-slot.ts,
 * sync-standby.ts). pg_receivewal resumes from the newest file in the spool, else
 * from the slot's restart_lsn (PostgreSQL 15's READ_REPLICATION_SLOT).
 */
export function streamWal(input: WalStreamInput, options: PostgresRecipeOptions = {}): WalStream {
  const endpoint: PgEndpoint = {
    host: input.instance.host,
    port: input.instance.port,
    user: options.user ?? 'postgres',
  };
  const where = describeEndpoint(endpoint);
  const applicationName = walReceiverName(input.component);
  const exportSlot = exportSlotName(input.component);
  const queryOptions = (signal = input.signal): QueryOptions => ({
    ...(signal === undefined ? {} : { signal }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
  });
  let child: ChildProcess | undefined;
  let stopping = false;

  const explain = (error: unknown, what: string): RecipeError =>
    error instanceof RecipeError
      ? error
      : new RecipeError(`${what} on ${where}: ${(error as Error).message}`, {
          cause: error,
        });

  return {
    async prepare(): Promise<WalStreamStart> {
      try {
        const status = await walSourceStatus(
          endpoint,
          input.slot,
          applicationName,
          queryOptions(),
          exportSlot,
        );
        if (status.inRecovery) {
          throw new RecipeError(`${where} is in recovery, not an active`, {
            hint: 'the registry names it active; an activation may be under way',
          });
        }
        const segmentSize = Number(
          (await walSetting(endpoint, 'wal_segment_size', queryOptions())) || 16 * 1024 * 1024,
        );
        const slot = await ensureWalSlot(endpoint, input.slot, queryOptions());
        const lost = slot.recreated || input.restartFromSlot === true;
        if (lost) await removePartials(input.spoolDir);
        await configureSyncStandby(endpoint, applicationName, input.synchronous, queryOptions());
        return {
          systemIdentifier: status.systemIdentifier,
          timeline: status.timeline,
          segmentSize,
          ...(lost ? { restartedAt: { lsn: slot.restartLsn, cause: 'slot-lost' as const } } : {}),
        };
      } catch (error) {
        throw explain(error, 'preparing the stream');
      }
    },

    async receive(): Promise<void> {
      await mkdir(input.spoolDir, { recursive: true });
      const args = [
        '--directory',
        input.spoolDir,
        '--slot',
        input.slot,
        '--no-loop',
        '--no-password',
        // Frequent flush reports keep the slot's restart_lsn and pg_stat_replication current.
        '--status-interval=1',
        ...(input.synchronous ? ['--synchronous'] : []),
        '--dbname',
        conninfo(endpoint, 'postgres', { application_name: applicationName }),
      ];
      const process = spawn(await pgTool('pg_receivewal', options.binDir), args, {
        stdio: ['ignore', 'ignore', 'pipe'],
        cwd: '/',
      });
      child = process;
      let stderr = '';
      process.stderr?.setEncoding('utf8');
      process.stderr?.on('data', (text: string) => {
        stderr = (stderr + text).slice(-STDERR_TAIL);
      });
      const onAbort = () => void this.stop();
      input.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const [code, signal] = (await once(process, 'close')) as [number | null, NodeJS.Signals | null];
        if (stopping || input.signal?.aborted) return;
        const status = code === null ? `killed by ${signal}` : `exit ${code}`;
        const message = `pg_receivewal from ${where} ended (${status}): ${oneLine(stderr) || 'no message'}`;
        // The WAL it resumes from was recycled: only starting again from the slot helps.
        if (/has already been removed/.test(stderr)) throw new WalPositionGoneError(message);
        throw new RecipeError(message);
      } catch (error) {
        if (error instanceof RecipeError) throw error;
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        throw explain(error, missing ? 'pg_receivewal not found' : 'running pg_receivewal');
      } finally {
        input.signal?.removeEventListener('abort', onAbort);
      }
    },

    status: (extra = {}): Promise<WalSourceStatus> =>
      walSourceStatus(
        endpoint,
        input.slot,
        applicationName,
        queryOptions(extra.signal ?? input.signal),
        exportSlot,
      ),

    async stop(): Promise<void> {
      stopping = true;
      const running = child;
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
      const closed = once(running, 'close').catch(() => {});
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
      await closed;
      clearTimeout(timer);
    },
  };
}

function walSetting(endpoint: PgEndpoint, name: string, options: QueryOptions): Promise<string> {
  return query(endpoint, `select setting from pg_settings where name = '${name}'`, options);
}

/**
 * Removes the spool's partial segments: after a lost slot pg_receivewal must not
 * resume from them (the server no longer has that WAL). The uploader stored them first.
 */
async function removePartials(spoolDir: string): Promise<void> {
  const names = await readdir(spoolDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.endsWith('.partial'))
      .map((name) => rm(join(spoolDir, name), { force: true })),
  );
}
