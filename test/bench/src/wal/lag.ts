import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox } from '@pullback/cli/demo';
import pg from 'pg';
import { percentile } from './figures.js';

/**
 * How long a commit on the active takes to be visible on each fallback: a row
 * committed every 100 ms, both fallbacks polled every 10 ms for the newest one.
 */
export async function measureLag(
  sandbox: Sandbox,
  options: { seconds: number },
): Promise<{ samples: number; medianMs: number; p95Ms: number; worstMs: number }> {
  const active = new pg.Client({ connectionString: sandbox.active.connectionString() });
  const fallbacks = sandbox.fallbacks.map(
    (fallback) =>
      new pg.Client({ host: '127.0.0.1', port: fallback.port, user: 'postgres', database: 'postgres' }),
  );
  await active.connect();
  for (const client of fallbacks) await client.connect();
  const acked = new Map<number, number>();
  const lags: number[] = [];
  let writing = true;
  const writer = (async () => {
    const end = Date.now() + options.seconds * 1000;
    while (Date.now() < end) {
      const result = await active.query<{ id: number }>(
        "insert into marker (note) values ('lag probe') returning id",
      );
      acked.set(result.rows[0]!.id, Date.now());
      await sleep(100);
    }
    writing = false;
  })();
  const readers = fallbacks.map(async (client) => {
    let seen = 0;
    while (writing || seen < Math.max(0, ...acked.keys())) {
      const result = await client.query<{ id: number | null }>('select max(id) as id from marker');
      const now = Date.now();
      const newest = result.rows[0]?.id ?? 0;
      for (const [id, at] of acked) if (id > seen && id <= newest) lags.push(now - at);
      seen = Math.max(seen, newest);
      await sleep(10);
    }
  });
  await writer;
  await Promise.all(readers);
  await active.end();
  for (const client of fallbacks) await client.end();
  return {
    samples: lags.length,
    medianMs: percentile(lags, 50),
    p95Ms: percentile(lags, 95),
    worstMs: Math.max(0, ...lags),
  };
}
