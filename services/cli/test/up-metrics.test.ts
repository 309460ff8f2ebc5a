import { createServer } from 'node:net';
import { waitFor } from '@pullback/harness';
import type { FullStatus } from '@pullback/pipeline';
import { stopServer } from '@pullback/recipe-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PipelineWorld, startPipelineWorld } from './pipeline-world.js';
import { promtoolProblems, type Scrape, scrape } from './prometheus-text.js';
import { runCli } from './run-cli.js';

let world: PipelineWorld;
let httpPort: number;

interface ListedSnapshot {
  readonly id: string;
  readonly time: string;
  readonly component: string;
  readonly sizes: { readonly logical: number; readonly newlyStored: number };
  readonly proof: { readonly ok: boolean } | null;
}

beforeAll(async () => {
  world = await startPipelineWorld('metrics', { http: true });
  httpPort = world.httpPort!;
}, 120_000);

afterAll(async () => {
  await world?.close();
}, 120_000);

describe("pullback up's /metrics", () => {
  it('refuses an http.port in use in one line, before any worker starts', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(httpPort, '127.0.0.1', resolve));
    try {
      const result = await runCli(['up', '--config', world.configPath], { env: world.s3.env });
      expect(result.code).toBe(1);
      expect(result.errorLines).toEqual([
        `pullback: port ${httpPort} is in use on 127.0.0.1; HINT: choose another http.port in the config`,
      ]);
      expect(result.stdout).toBe('');
      // Nothing registered: no worker ran.
      expect((await world.pipeline.readStatus()).components).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  it('after a cycle, serves what happened: the snapshot, the fallbacks, the jobs, the archive, parsed whole', {
    timeout: 420_000,
  }, async () => {
    const up = await world.startUp();
    const base = `http://127.0.0.1:${httpPort}/`;
    expect(up.output()).toContain(`  http                ${base}metrics, dashboard at ${base}`);
    await world.cycle();
    const listed = await runCli(['snapshots', '--json', '--config', world.configPath], { env: world.s3.env });
    expect(listed.stderr).toBe('');
    const snapshots = JSON.parse(listed.stdout) as ListedSnapshot[];
    expect(snapshots).toHaveLength(1);
    const snapshot = snapshots[0]!;

    // The fallbacks' lag in bytes comes with their agents' next position report, after the import.
    const metrics = await waitFor(
      'both fallbacks reported their lag',
      async () => {
        const scraped = await scrape(`${base}metrics`);
        const lagged = ['shop-b', 'shop-c'].every(
          (instance) =>
            scraped.value('pullback_fallback_lag_bytes', { component: 'shop', instance }) !== undefined,
        );
        return lagged ? scraped : undefined;
      },
      120_000,
      500,
    );
    const before = Date.now() / 1000;
    expect(await promtoolProblems(metrics.text)).toBe('');
    const shop = { component: 'shop' };
    expect(metrics.value('pullback_registry_up')).toBe(1);
    // The snapshot: its time, age and sizes are the archive's.
    expect(metrics.value('pullback_last_snapshot_timestamp_seconds', shop)).toBe(
      Date.parse(snapshot.time) / 1000,
    );
    const age = metrics.value('pullback_last_snapshot_age_seconds', shop)!;
    expect(Math.abs(age - (before - Date.parse(snapshot.time) / 1000))).toBeLessThan(5);
    expect(metrics.value('pullback_last_snapshot_logical_bytes', shop)).toBe(snapshot.sizes.logical);
    expect(metrics.value('pullback_last_snapshot_new_bytes', shop)).toBe(snapshot.sizes.newlyStored);
    expect(metrics.value('pullback_last_export_success', shop)).toBe(1);
    // Hourly exports (the default schedule): the missing-snapshot alert waits twice that.
    expect(metrics.value('pullback_export_interval_seconds', shop)).toBe(3600);
    expect(metrics.value('pullback_bad_snapshots', shop)).toBe(0);
    // The archive, as its listing says: one snapshot, so its sizes are the archive's.
    expect(metrics.value('pullback_archive_snapshots', shop)).toBe(1);
    expect(metrics.value('pullback_archive_logical_bytes')).toBe(snapshot.sizes.logical);
    expect(metrics.value('pullback_archive_stored_bytes')).toBe(snapshot.sizes.newlyStored);
    expect(metrics.value('pullback_archive_dedup_ratio')).toBeCloseTo(
      snapshot.sizes.logical / snapshot.sizes.newlyStored,
      6,
    );
    // Both fallbacks healthy at the snapshot, with their lag.
    for (const instance of ['shop-b', 'shop-c']) {
      const labels = { component: 'shop', instance };
      expect(metrics.value('pullback_fallback_state', { ...labels, state: 'healthy' })).toBe(1);
      for (const state of ['unhealthy', 'down', 'unknown'])
        expect(metrics.value('pullback_fallback_state', { ...labels, state })).toBe(0);
      expect(metrics.value('pullback_fallback_at_last_snapshot', labels)).toBe(1);
      expect(metrics.value('pullback_fallback_lag_seconds', labels)).toBeGreaterThanOrEqual(0);
      expect(metrics.value('pullback_fallback_lag_bytes', labels)).toBeGreaterThanOrEqual(0);
      // Its import, observed where it ran.
      expect(metrics.histogram('pullback_import_duration_seconds', labels)?.count).toBeGreaterThanOrEqual(1);
    }
    // The cycle's jobs, observed where they ran: one export, one pull of the snapshot's files.
    const exported = metrics.histogram('pullback_export_duration_seconds', { ...shop, instance: 'shop-a' });
    expect(exported?.count).toBe(1);
    expect(exported?.sum).toBeGreaterThan(0);
    expect(metrics.histogram('pullback_export_bytes', { ...shop, instance: 'shop-a' })?.sum).toBeGreaterThan(
      0,
    );
    expect(metrics.histogram('pullback_pull_duration_seconds', shop)?.count).toBe(1);
    expect(metrics.histogram('pullback_pull_bytes', shop)).toEqual({ count: 1, sum: snapshot.sizes.logical });
    // The election: epoch 1, no activation.
    expect(metrics.value('pullback_epoch', shop)).toBe(1);
    expect(metrics.value('pullback_activations_total', shop)).toBe(0);
    expect(metrics.value('pullback_queue_jobs', { queue: 'pull', state: 'completed' })).toBe(1);
    // The process's own.
    expect(metrics.value('pullback_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(metrics.names.has('pullback_nodejs_heap_size_used_bytes')).toBe(true);

    // The WAL receiver streams into the archive (asynchronous, the default).
    const streaming = await waitFor(
      'the WAL receiver to stream and the archive to hold WAL',
      async () => {
        const now = await scrape(`${base}metrics`);
        return now.value('pullback_wal_receiver_streaming', shop) === 1 &&
          now.value('pullback_archive_newest_wal_timestamp_seconds', shop) !== undefined
          ? now
          : undefined;
      },
      120_000,
      1_000,
    );
    expect(streaming.value('pullback_wal_receiver_synchronous', shop)).toBe(0);
    expect(streaming.value('pullback_wal_receiver_lag_bytes', shop)).toBeGreaterThanOrEqual(0);
    expect(streaming.value('pullback_wal_gaps', shop)).toBe(0);
    expect(streaming.value('pullback_wal_receiver_report_age_seconds', shop)).toBeLessThan(60);

    // The snapshot's restore drill proves it: the archive is listed again once the registry records the proof.
    const proven = await waitFor(
      'the snapshot proven by its drill',
      async () => {
        const now = await scrape(`${base}metrics`);
        return now.value('pullback_last_proven_snapshot_timestamp_seconds', shop) === undefined
          ? undefined
          : now;
      },
      180_000,
      1_000,
    );
    expect(proven.value('pullback_last_proven_snapshot_timestamp_seconds', shop)).toBe(
      Date.parse(snapshot.time) / 1000,
    );
    expect(proven.value('pullback_last_proven_snapshot_logical_bytes', shop)).toBe(snapshot.sizes.logical);

    // shop-c's server stops: its state follows, at the next scrape after its agent reports it.
    await stopServer({ dataDir: world.fallbackDirs[1] });
    const down = await waitFor(
      'shop-c no longer healthy in /metrics',
      async () => {
        const now = await scrape(`${base}metrics`);
        return now.value('pullback_fallback_state', {
          component: 'shop',
          instance: 'shop-c',
          state: 'healthy',
        }) === 0
          ? now
          : undefined;
      },
      120_000,
      1_000,
    );
    const stateOf = (scraped: Scrape, instance: string) =>
      ['healthy', 'unhealthy', 'down', 'unknown'].filter(
        (state) => scraped.value('pullback_fallback_state', { component: 'shop', instance, state }) === 1,
      );
    expect(stateOf(down, 'shop-c')).toHaveLength(1);
    expect(stateOf(down, 'shop-c')[0]).toMatch(/^(down|unhealthy)$/);
    expect(stateOf(down, 'shop-b')).toEqual(['healthy']);
    expect(await promtoolProblems(down.text)).toBe('');

    // The same server serves the dashboard, and /metrics is read-only.
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-component="shop"');
    const data = (await (await fetch(`${base}status.json`)).json()) as { status: FullStatus };
    expect(data.status.components[0]?.name).toBe('shop');
    const posted = await fetch(`${base}metrics`, { method: 'POST' });
    expect(posted.status).toBe(405);
    expect(posted.headers.get('allow')).toBe('GET, HEAD');

    expect(await up.stop('SIGTERM')).toBe(0);
    // The port is free again once up stopped.
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(httpPort, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });
});
