import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { SandboxHosts } from './hosts.js';
import type { Sandbox } from './sandbox.js';

const execFileAsync = promisify(execFile);

/** An instance of the sandbox as a client reaches it. */
interface Endpoint {
  readonly name: string;
  readonly port: number;
}

/**
 * A client writing one row at a time through the multi-host connection string
 * (`target_session_attrs=read-write`, docs/election.md "Clients follow"), with psql,
 * so libpq itself picks the host: each row is a new connection, as a client that
 * reconnects after an error makes. It keeps the numbers whose commit was acknowledged.
 */
export interface DrillWriter {
  /** Numbers whose insert psql reported committed, when it was started and when it returned (ms since the epoch). */
  readonly acknowledged: { readonly n: number; readonly startedAt: number; readonly at: number }[];
  /** When the last acknowledged commit returned (ms since the epoch), or 0. */
  lastAcknowledgedAt(): number;
  /** Resolves when a write started after `since` (ms since the epoch) is acknowledged, with that moment. */
  nextAcknowledgedAfter(since: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

export function startDrillWriter(sandbox: Sandbox, uri: string, table = 'drill'): DrillWriter {
  const acknowledged: { n: number; startedAt: number; at: number }[] = [];
  let lastAt = 0;
  /** When the newest acknowledged write was started. */
  let lastStartedAt = 0;
  let stopped = false;
  const psql = join(sandbox.active.binDir, 'psql');
  const loop = (async () => {
    for (let n = 1; !stopped; n++) {
      const startedAt = Date.now();
      const ok = await execFileAsync(
        psql,
        [
          '-X',
          '-qAt',
          '-v',
          'ON_ERROR_STOP=1',
          '-d',
          `${uri}&connect_timeout=2`,
          '-U',
          'postgres',
          '-c',
          `insert into ${table} (n) values (${n}) returning n`,
        ],
        { timeout: 10_000 },
      ).then(
        ({ stdout }) => stdout.trim() === String(n),
        () => false,
      );
      if (ok) {
        lastAt = Date.now();
        lastStartedAt = startedAt;
        acknowledged.push({ n, startedAt, at: lastAt });
      } else {
        // Nothing takes writes now: libpq tried every host; try again shortly.
        await sleep(50);
      }
    }
  })();
  return {
    acknowledged,
    lastAcknowledgedAt: () => lastAt,
    nextAcknowledgedAfter: async (since, timeoutMs) => {
      for (const deadline = Date.now() + timeoutMs; ; await sleep(20)) {
        if (lastStartedAt > since) return lastAt;
        if (Date.now() > deadline) throw new Error(`no write acknowledged within ${timeoutMs} ms`);
      }
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/**
 * Samples every instance's writability (not in recovery, not made read-only) until
 * stopped: the safety rule says never two at once (docs/election.md "The safety rule").
 * Each answer carries the moment the server evaluated it (all servers here share one
 * clock), so "at once" is judged on those moments, not on which round of samples an
 * answer came back in: a round's three queries run a few milliseconds apart, and a
 * switchover can stop one server and promote another within them.
 */
export interface WritableWatch {
  /** Pairs of instances each seen writable while the other had been, and still was, writable. */
  readonly twoWritable: string[][];
  readonly samples: () => number;
  /** Whether `name` was seen writable by a sample begun at or after `since` (ms since the epoch). */
  writableSince(name: string, since: number): boolean;
  stop(): Promise<void>;
}

export function watchWritable(sandbox: Sandbox, endpoints: readonly Endpoint[]): WritableWatch {
  /** Per instance, the server-side moments (ms) at which it was writable, and the samples' local starts. */
  const writableAt = new Map<string, number[]>();
  const seen = new Map<string, number>();
  const twoWritable: string[][] = [];
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      // A sample counts from when it began: it says nothing of what happens while it runs.
      const began = Date.now();
      const answers = await Promise.all(
        endpoints.map(async (endpoint) => ({
          name: endpoint.name,
          ...(await writableNow(sandbox, endpoint.port)),
        })),
      );
      samples++;
      for (const answer of answers) {
        if (!answer.writable) continue;
        seen.set(answer.name, began);
        writableAt.set(answer.name, [...(writableAt.get(answer.name) ?? []), answer.at]);
      }
      await sleep(100);
    }
  })();
  return {
    twoWritable,
    samples: () => samples,
    writableSince: (name, since) => (seen.get(name) ?? 0) >= since,
    stop: async () => {
      stopped = true;
      await loop;
      // Two instances overlap when each was writable at a moment within the other's
      // span of writable moments: one went on taking writes after the other began to.
      const spans = [...writableAt].map(([name, times]) => ({
        name,
        from: Math.min(...times),
        to: Math.max(...times),
      }));
      for (const [i, x] of spans.entries()) {
        for (const y of spans.slice(i + 1)) {
          if (x.from <= y.to && y.from <= x.to) twoWritable.push([x.name, y.name]);
        }
      }
    },
  };
}

/** Whether the server at `port` takes writes now; false when it does not answer. */
export async function isWritable(sandbox: Sandbox, port: number): Promise<boolean> {
  return (await writableNow(sandbox, port)).writable;
}

/** Whether the server at `port` takes writes, and when it said so (its clock, ms since the epoch). */
export async function writableNow(
  sandbox: Sandbox,
  port: number,
): Promise<{ writable: boolean; at: number }> {
  return psqlOn(
    sandbox,
    port,
    "select (not pg_is_in_recovery() and current_setting('default_transaction_read_only') = 'off')::text || ' ' || (extract(epoch from clock_timestamp()) * 1000)::bigint",
    { timeout: 3000, env: { ...process.env, PGCONNECT_TIMEOUT: '2' } },
  ).then(
    ({ stdout }) => {
      const [writable, at] = stdout.trim().split(' ');
      return { writable: writable === 'true', at: Number(at) };
    },
    () => ({ writable: false, at: 0 }),
  );
}

/** The numbers in `table` on the server at `port`. */
export async function rowsOn(sandbox: Sandbox, port: number, table = 'drill'): Promise<Set<number>> {
  const { stdout } = await psqlOn(sandbox, port, `select n from ${table}`, {
    timeout: 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Set(stdout.split('\n').filter(Boolean).map(Number));
}

/** The recovery point objective of asynchronous mode (docs/wal.md): writes older than this must survive. */
const RPO_MS = 1000;

/** What one host death did, as the drill and bench:failover report it. */
export interface HostDeath {
  readonly from: string;
  readonly to: string;
  /** From the SIGKILL to the first write acknowledged through the multi-host string after it. */
  readonly deathToWritableMs: number;
  /** Acknowledged writes (before the death or after) that the new active does not have. */
  readonly lost: number[];
  /** Of those, the ones acknowledged more than a second before the death (outside the RPO). */
  readonly lostOutsideRpo: number[];
  readonly acknowledgedBefore: number;
  /** When the signals were sent (ms since the epoch). */
  readonly killedAt: number;
}

/**
 * Kills the active's host (its agent and its PostgreSQL, SIGKILL) while `writer`
 * writes, waits until a write is acknowledged again (the election promoted a
 * fallback and libpq found it), and compares the new active's rows with every write
 * acknowledged before the death.
 */
export async function killActiveHost(
  sandbox: Sandbox,
  hosts: SandboxHosts,
  writer: DrillWriter,
  options: {
    active: () => Promise<string | undefined>;
    endpoints: readonly Endpoint[];
    timeoutMs?: number;
    /** Writes before this index were judged by an earlier death: not counted again. Default: 0. */
    judgedUpTo?: number;
  },
): Promise<HostDeath> {
  const from = await options.active();
  if (from === undefined) throw new Error('no active to kill');
  await writer.nextAcknowledgedAfter(Date.now(), 30_000);
  const acknowledgedBefore = writer.acknowledged.length;
  const killedAt = await hosts.killHost(from);
  const backAt = await writer.nextAcknowledgedAfter(killedAt, options.timeoutMs ?? 120_000);
  let to: string | undefined;
  for (const deadline = Date.now() + 30_000; to === undefined || to === from; await sleep(50)) {
    to = await options.active();
    if (Date.now() > deadline) throw new Error(`the registry still names ${from} active`);
  }
  const endpoint = options.endpoints.find((candidate) => candidate.name === to);
  if (endpoint === undefined) throw new Error(`no endpoint for ${to}`);
  // Every write acknowledged so far, on the old active before its death or on the new
  // one after: all must be on the new active (taken before its rows, so none is missed).
  const acknowledged = writer.acknowledged.slice(options.judgedUpTo ?? 0);
  const rows = await rowsOn(sandbox, endpoint.port);
  return {
    from,
    to,
    deathToWritableMs: backAt - killedAt,
    lost: acknowledged.filter((write) => !rows.has(write.n)).map((write) => write.n),
    lostOutsideRpo: acknowledged
      .filter((write) => !rows.has(write.n) && write.at < killedAt - RPO_MS)
      .map((write) => write.n),
    acknowledgedBefore,
    killedAt,
  };
}

/** Waits until the server at `port` is a standby streaming from an upstream (pg_stat_wal_receiver). */
export async function waitStreaming(sandbox: Sandbox, port: number, timeoutMs: number): Promise<void> {
  const sql =
    "select pg_is_in_recovery()::text || ' ' || coalesce((select status from pg_stat_wal_receiver), 'none')";
  let last = '';
  for (const deadline = Date.now() + timeoutMs; ; await sleep(200)) {
    last = await execFileAsync(
      join(sandbox.active.binDir, 'psql'),
      ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
      { timeout: 5000 },
    ).then(
      ({ stdout }) => stdout.trim(),
      (error: Error) => error.message.split('\n')[0] ?? '',
    );
    if (last === 'true streaming') return;
    if (Date.now() > deadline) throw new Error(`port ${port} is not a streaming standby (last: ${last})`);
  }
}

/** One statement through the sandbox's psql on 127.0.0.1:`port`, unaligned, tuples only. */
function psqlOn(
  sandbox: Sandbox,
  port: number,
  sql: string,
  options: { timeout: number; env?: NodeJS.ProcessEnv; maxBuffer?: number },
): Promise<{ stdout: string }> {
  return execFileAsync(
    join(sandbox.active.binDir, 'psql'),
    ['-X', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
    options,
  );
}
