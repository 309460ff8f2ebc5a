import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { PostgresServer } from '@pullback/harness';
import pg from 'pg';

export interface LoadResult {
  readonly tps: number;
  /** pgbench's average latency per transaction. */
  readonly latencyMs: number;
}

/**
 * pgbench's TPC-B-like transactions on the active: at `rate` per second when given
 * (a steady load), else as fast as `clients` go. `stop` ends it early; a load cut by
 * the server's death resolves `done` with what it measured so far (zeros).
 */
export function pgbench(
  server: PostgresServer,
  options: { rate?: number; clients?: number; seconds: number },
): { done: Promise<LoadResult>; stop(): Promise<void> } {
  const clients = options.clients ?? 2;
  const child = spawn(
    join(server.binDir, 'pgbench'),
    [
      '-n',
      '-c',
      String(clients),
      '-j',
      String(clients),
      '-T',
      String(options.seconds),
      ...(options.rate === undefined ? [] : ['-R', String(options.rate)]),
      '-d',
      server.connectionString(),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', () => {});
  const done = new Promise<LoadResult>((resolve) => {
    child.once('exit', () => {
      const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? 0);
      const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(output)?.[1] ?? 0);
      resolve({ tps, latencyMs });
    });
  });
  return {
    done,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await done;
    },
  };
}

/** A commit the client saw acknowledged: its 32-bit transaction id, as pg_waldump prints it. */
export interface AckedCommit {
  readonly n: number;
  readonly xid: string;
  readonly ackedAt: number;
}

/**
 * Commits rows `(run, n)` one transaction each, as fast as one client can, noting
 * when each was acknowledged, until stopped or the server dies.
 */
export function commitLoad(
  server: PostgresServer,
  run: number,
): {
  until(done: (acked: readonly AckedCommit[]) => boolean): Promise<void>;
  stop(): Promise<AckedCommit[]>;
} {
  const acked: AckedCommit[] = [];
  let stopping = false;
  const waiters: { done: (acked: readonly AckedCommit[]) => boolean; resolve: () => void }[] = [];
  const loop = (async () => {
    const client = new pg.Client({ connectionString: server.connectionString() });
    client.on('error', () => {});
    await client.connect();
    try {
      for (let n = 1; !stopping; n++) {
        const result = await client.query<{ xid: string }>(
          'insert into rpo (run, n) values ($1, $2) returning (txid_current() % 4294967296)::text as xid',
          [run, n],
        );
        acked.push({ n, xid: result.rows[0]!.xid, ackedAt: Date.now() });
        for (const waiter of waiters.splice(0)) {
          if (waiter.done(acked)) waiter.resolve();
          else waiters.push(waiter);
        }
      }
    } catch {
      // The server died: what was acknowledged is all there is.
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return {
    until: (done) =>
      new Promise<void>((resolve) => {
        if (done(acked)) resolve();
        else waiters.push({ done, resolve });
      }),
    stop: async () => {
      stopping = true;
      await loop;
      return acked;
    },
  };
}
