import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { compareLsn, walStreamName } from '@pullback/archive';
import type { PostgresComponentConfig } from '../config/schema.js';
import { walSlotName } from '../config/wal-slot.js';
import { messageOf } from '../domain/errors.js';
import { instanceLocation } from '../domain/instance-location.js';
import type { Recipe, WalSourceStatus, WalStream } from '../recipe.js';
import type { WalGap, WalReceiverState } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { LagClock } from './lag-clock.js';
import { takeLease } from './lease.js';
import { lsnDistance } from './lsn.js';
import { pause } from './pause.js';
import { seedSpool } from './seed-spool.js';
import { readSpoolMeta, writeSpoolMeta } from './spool-meta.js';
import { SpoolUploader } from './spool-uploader.js';
import type { WalArchive } from './wal-archive.js';

export interface WalReceiverOptions {
  readonly registry: Registry;
  readonly component: string;
  readonly config: PostgresComponentConfig;
  /** The component's recipe; it must have `streamWal`. */
  readonly recipe: Recipe;
  readonly archive: WalArchive;
  /** The spool is `<stateDir>/wal/<component>/`. */
  readonly stateDir: string;
  /** Who runs it, in the registry. Default: `<hostname>:<pid>`. */
  readonly holder?: string;
  /** The lease's TTL and renewal, in ms. Default: 5 000 and 1 000. */
  readonly leaseTtlMs?: number;
  readonly leaseRenewMs?: number;
  /** How often the state is reported (and the active checked for a move), in ms. Default: 1 000. */
  readonly reportIntervalMs?: number;
  /** How often the growing partial segment is stored, in ms. Default: 300. */
  readonly partialIntervalMs?: number;
  /** The first and the longest wait before restarting a receiving process that ended, in ms. Default: 500 and 5 000 (a new active is followed within seconds). */
  readonly backoffMs?: { readonly first: number; readonly max: number };
  /** Why the receiver restarts (a failure of the process, the active, the archive). Default: ignore. */
  readonly onError?: (error: Error, where: string) => void;
}

export interface RunningWalReceiver {
  /** Restarts streaming now, against the registry's current active (after an activation). */
  move(): void;
  /** Stops streaming (pg_receivewal flushes), stores the spool, reports, and lets the lease go. */
  stop(): Promise<void>;
}

/** A run that ran this long was no crash loop: the next failure waits the first backoff again. */
const HEALTHY_RUN_MS = 30_000;

/**
 * The WAL receiver of one component (docs/wal.md): whichever pull-backup worker holds
 * the lease `wal-receiver.<component>` streams the active's WAL through the recipe
 * into its spool, stores the spool in the archive, and reports its state every
 * second; the others wait to take over. A receiving process that ends is restarted
 * with backoff, against the registry's active of the moment.
 */
export function startWalReceiver(options: WalReceiverOptions): RunningWalReceiver {
  const { registry, component, config } = options;
  const holder = options.holder ?? `${hostname()}:${process.pid}`;
  const leaseTtlMs = options.leaseTtlMs ?? 5_000;
  const leaseRenewMs = options.leaseRenewMs ?? 1_000;
  const reportIntervalMs = options.reportIntervalMs ?? 1_000;
  const partialIntervalMs = options.partialIntervalMs ?? 300;
  const backoff = options.backoffMs ?? { first: 500, max: 5_000 };
  const slot = walSlotName(component, config);
  const synchronous = config.wal.synchronous;
  const spoolDir = join(options.stateDir, 'wal', component);
  const report = (error: unknown, where: string) =>
    options.onError?.(error instanceof Error ? error : new Error(String(error)), where);
  const streamWal = options.recipe.streamWal?.bind(options.recipe);
  if (streamWal === undefined) throw new Error(`wal receiver of ${component}: its recipe streams no wal`);

  const stopping = new AbortController();
  let moveSession: (() => void) | undefined;

  /** What the holder knows, for its reports. */
  interface Holding {
    source?: string;
    walStream?: WalStream;
    stream?: string;
    uploader?: SpoolUploader;
    receiving: boolean;
    reason?: string;
    readonly lag: LagClock;
  }

  const stateOf = (holding: Holding, status: WalSourceStatus | undefined): WalReceiverState => {
    const now = new Date();
    const replication = status?.replication;
    const streaming =
      holding.receiving &&
      replication?.state === 'streaming' &&
      (!synchronous || replication.syncState === 'sync' || replication.syncState === 'quorum');
    const archived = holding.uploader?.archived;
    const flushed = holding.uploader?.flushed;
    const activeLsn = status?.currentLsn;
    return {
      holder,
      streaming,
      synchronous,
      slot,
      ...(holding.source === undefined ? {} : { source: holding.source }),
      ...(holding.stream === undefined ? {} : { stream: holding.stream }),
      ...(status === undefined ? {} : { timeline: status.timeline }),
      ...(flushed === undefined ? {} : { flushedLsn: flushed.lsn }),
      ...(archived === undefined ? {} : { archivedLsn: archived.lsn, archivedAt: archived.at }),
      ...(activeLsn === undefined ? {} : { activeLsn }),
      ...(activeLsn === undefined || archived === undefined
        ? {}
        : {
            behindBytes: lsnDistance(archived.lsn, activeLsn),
            behindSeconds: holding.lag.update(activeLsn, archived.lsn, now.getTime()),
          }),
      ...(status?.slotRetainedBytes === undefined
        ? {}
        : { slotRetainedBytes: Number(status.slotRetainedBytes) }),
      ...(status?.slotStatus === undefined ? {} : { slotStatus: status.slotStatus }),
      ...(status === undefined ? {} : { maxSlotWalKeepSize: status.maxSlotWalKeepSize }),
      ...(status?.exportSlot === undefined
        ? {}
        : {
            exportSlot: {
              name: status.exportSlot.name,
              ...(status.exportSlot.status === undefined ? {} : { status: status.exportSlot.status }),
              ...(status.exportSlot.retainedBytes === undefined
                ? {}
                : { retainedBytes: Number(status.exportSlot.retainedBytes) }),
            },
          }),
      ...(synchronous && !streaming ? { blockingWrites: true } : {}),
      ...(streaming || holding.reason === undefined ? {} : { reason: holding.reason }),
      updatedAt: now.toISOString(),
    };
  };

  const reportState = async (holding: Holding, signal: AbortSignal): Promise<void> => {
    let status: WalSourceStatus | undefined;
    if (holding.walStream !== undefined) {
      try {
        status = await holding.walStream.status({
          signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
        });
      } catch (error) {
        if (signal.aborted) return;
        holding.reason ??= `the active cannot be asked: ${messageOf(error)}`;
      }
    }
    await registry.reportWalReceiver(component, stateOf(holding, status));
  };

  const recordGap = async (timeline: number, fromLsn: string, toLsn: string, fromTime?: string) => {
    const record = await registry.component(component);
    const gap: WalGap = {
      timeline,
      fromLsn,
      toLsn,
      ...(fromTime === undefined ? {} : { fromTime }),
      toTime: new Date().toISOString(),
      cause: 'slot-lost',
      detectedAt: new Date().toISOString(),
    };
    await registry.recordWalGaps(component, [...(record?.walGaps ?? []), gap]);
  };

  /** One run of the receiving process against the active of the moment; ends when it does. */
  const runSession = async (
    holding: Holding,
    signal: AbortSignal,
    restartFromSlot: boolean,
    leaseSignal: AbortSignal,
  ): Promise<void> => {
    const active = (await registry.component(component))?.active;
    const instance = active === undefined ? undefined : instanceLocation(config, active);
    if (instance === undefined)
      throw new Error(`wal receiver of ${component}: no active instance in the registry`);
    holding.source = active;
    await mkdir(spoolDir, { recursive: true });
    // What a previous run left goes first, to the stream it came from.
    const meta = await readSpoolMeta(spoolDir);
    let uploader =
      meta === undefined
        ? undefined
        : holding.stream === meta.stream && holding.uploader !== undefined
          ? holding.uploader
          : new SpoolUploader({ archive: options.archive, spoolDir, ...meta });
    await uploader?.storeSpool({ signal });
    const walStream = streamWal({
      component,
      instance,
      slot,
      synchronous,
      spoolDir,
      restartFromSlot,
      signal,
    });
    holding.walStream = walStream;
    const start = await walStream.prepare();
    const stream = walStreamName(component, start.systemIdentifier);
    if (meta !== undefined && (meta.stream !== stream || meta.segmentSize !== start.segmentSize)) {
      // A new server lineage under this component: the spool's files are stored, start afresh.
      await uploader?.storeSpool({ signal, removeNewest: true });
      uploader = undefined;
    }
    await writeSpoolMeta(spoolDir, { stream, segmentSize: start.segmentSize });
    uploader ??= new SpoolUploader({
      archive: options.archive,
      spoolDir,
      stream,
      segmentSize: start.segmentSize,
    });
    if (uploader.archived === undefined) {
      const end = await options.archive.end(stream, { signal });
      if (end !== undefined) uploader.archived = end;
    }
    holding.stream = stream;
    holding.uploader = uploader;
    if (start.restartedAt !== undefined) {
      const archived = uploader.archived;
      if (archived !== undefined && compareLsn(archived.lsn, start.restartedAt.lsn) < 0) {
        await recordGap(archived.timeline, archived.lsn, start.restartedAt.lsn, archived.at);
      }
    }
    if (start.restartedAt === undefined && !restartFromSlot) {
      await seedSpool(options.archive, stream, spoolDir, start.segmentSize, signal);
    }
    const receiving = walStream.receive();
    holding.receiving = true;
    holding.reason = undefined;
    const ended = receiving.then(
      () => undefined,
      (error: unknown) => error,
    );
    let done = false;
    void ended.then(() => {
      done = true;
    });
    const storing = (async () => {
      while (!done && !signal.aborted) {
        await uploader.storeSpool({ signal }).catch((error: unknown) => {
          if (!signal.aborted) report(error, `wal receiver of ${component}: storing the spool`);
        });
        await pause(partialIntervalMs, signal);
      }
    })();
    const failure = await ended;
    holding.receiving = false;
    await storing;
    // What pg_receivewal flushed last (it does on SIGTERM), unless another holder took over.
    if (!leaseSignal.aborted) {
      await uploader.storeSpool({ signal: AbortSignal.any([leaseSignal, AbortSignal.timeout(60_000)]) });
    }
    throw failure ?? new Error('stopped');
  };

  const hold = async (leaseSignal: AbortSignal): Promise<void> => {
    const holding: Holding = { receiving: false, lag: new LagClock() };
    const leased = AbortSignal.any([leaseSignal, stopping.signal]);
    let failures = 0;
    let restartFromSlot = false;
    let session = new AbortController();
    const reporter = (async () => {
      while (!leased.aborted) {
        await reportState(holding, leased).catch((error: unknown) =>
          report(error, `wal receiver of ${component}: reporting`),
        );
        // An activation moved the active: streaming follows.
        const active = await registry.component(component).then(
          (record) => record?.active,
          () => holding.source,
        );
        if (holding.source !== undefined && active !== undefined && active !== holding.source)
          session.abort();
        await pause(reportIntervalMs, leased);
      }
    })();
    try {
      while (!leased.aborted) {
        session = new AbortController();
        moveSession = () => session.abort();
        const signal = AbortSignal.any([leased, session.signal]);
        const started = Date.now();
        try {
          await runSession(holding, signal, restartFromSlot, leaseSignal);
        } catch (error) {
          holding.receiving = false;
          if (leased.aborted) break;
          if (session.signal.aborted) {
            failures = 0;
            continue;
          }
          restartFromSlot = (error as { positionGone?: boolean }).positionGone === true;
          holding.reason = messageOf(error);
          report(error as Error, `wal receiver of ${component}`);
          failures = Date.now() - started > HEALTHY_RUN_MS ? 1 : failures + 1;
          await pause(Math.min(backoff.max, backoff.first * 2 ** (failures - 1)), leased);
        }
      }
    } finally {
      moveSession = undefined;
      await reporter;
      // The last word: not streaming (in synchronous mode, the active's commits now block).
      if (!leaseSignal.aborted) {
        holding.reason = stopping.signal.aborted ? 'the pull-backup worker stopped' : holding.reason;
        await reportState(holding, AbortSignal.timeout(5_000)).catch(() => {});
      }
    }
  };

  const running = (async () => {
    while (!stopping.signal.aborted) {
      const lease = await takeLease(registry, `wal-receiver.${component}`, {
        ttlMs: leaseTtlMs,
        renewMs: leaseRenewMs,
      }).catch((error: unknown) => {
        report(error, `wal receiver of ${component}: taking the lease`);
        return undefined;
      });
      if (lease === undefined) {
        await pause(leaseRenewMs, stopping.signal);
        continue;
      }
      try {
        await hold(lease.signal);
      } catch (error) {
        report(error, `wal receiver of ${component}`);
      } finally {
        await lease.release();
      }
    }
  })();

  return {
    move: () => moveSession?.(),
    stop: async () => {
      stopping.abort();
      await running;
    },
  };
}
