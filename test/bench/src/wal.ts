/**
 * bench:wal: continuous WAL on the demo's sandbox (pgbench scale 100, BENCH_SCALE
 * overrides) under a steady pgbench load, each figure beside the issue's target:
 * RPO when the active's host dies, asynchronous and synchronous (with the commit
 * latency and TPS that synchronous mode costs), the fallbacks' lag while streaming,
 * replay from the archive through the fallbacks' restore_command against the same
 * replay from local pg_wal files, a fallback's catch-up after minutes down, the
 * archive's WAL bytes per GB of WAL and the receiver's peak RSS.
 *
 * The pull side (pull-backup worker and WAL receiver) runs as its own process,
 * `pullback up --roles pull-backup`, as on a pull-backup machine; the export and
 * import roles run in this process.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { runCycle, SANDBOX_COMPONENT, type Sandbox, startSandbox } from '@pullback/cli/demo';
import type { RunningPipeline } from '@pullback/workers';
import { peakRss, percentile } from './wal/figures.js';
import { measureLag } from './wal/lag.js';
import { commitLoad, type LoadResult, pgbench } from './wal/load.js';
import { measureReplay } from './wal/replay.js';
import { committedXids, waitForArchiveToSettle, walBytesPerGb } from './wal/wal-archive.js';

const execFileAsync = promisify(execFile);
const scale = Number(process.env.BENCH_SCALE ?? 100);
const runs = Number(process.env.BENCH_RPO_RUNS ?? 5);
const syncRuns = Number(process.env.BENCH_SYNC_RUNS ?? 3);
const catchUpSeconds = Number(process.env.BENCH_CATCHUP_SECONDS ?? 300);
const replayBytes = Number(process.env.BENCH_REPLAY_BYTES ?? 1024 ** 3);
/** Replays of each kind, alternating (the figure is the median of each pair's ratio). */
const replayRounds = Number(process.env.BENCH_REPLAY_ROUNDS ?? 3);
/** The steady background load: pgbench transactions per second, 2 clients. */
const rate = Number(process.env.BENCH_RATE ?? 200);
/** BENCH_ONLY=replay,sync runs only those parts (lag, rpo, replay, catchup, sync); default all. */
/** BENCH_RSS_LOG=FILE appends every memory sample of the pull side to FILE. */
const rssLog = process.env.BENCH_RSS_LOG;
const only = new Set((process.env.BENCH_ONLY ?? 'lag,rpo,replay,catchup,sync').split(','));
const REPO = join(import.meta.dirname, '..', '..', '..');

const step = (text: string) => console.error(`bench: ${new Date().toISOString().slice(11, 19)} ${text}`);

interface Row {
  readonly what: string;
  readonly value: string;
  readonly target?: string;
}

/** What the bench started, for the cleanup that also runs on Ctrl-C. */
let sandbox: Sandbox | undefined;
let pull: PullSide | undefined;
let running: RunningPipeline | undefined;

async function cleanup(): Promise<void> {
  step('cleanup');
  await running?.close().catch(() => {});
  await pull?.stop().catch(() => {});
  await sandbox?.close();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    step(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  try {
    step(`sandbox: pgbench -i -s ${scale}`);
    sandbox = await startSandbox({ scale, archive: 'fs', log: (line) => step(`  ${line}`) });
    const asyncConfig = sandbox.configPath;
    const syncConfig = join(sandbox.dir, 'pullback-sync.yaml');
    await writeFile(
      syncConfig,
      (await readFile(asyncConfig, 'utf8')).replace(
        '    recipe: postgres\n',
        '    recipe: postgres\n    wal: { synchronous: true }\n',
      ),
    );
    await sandbox.active.psql('create table rpo (run int, n int, primary key (run, n))');

    pull = await startPullSide(sandbox, asyncConfig);
    running = await sandbox.startWorkers({ roles: { export: true, pull: false, import: true } });
    step('first cycle: export -> pull -> both fallbacks hot standbys');
    await runCycle(running.pipeline, SANDBOX_COMPONENT, { timeoutMs: 900_000 });
    // A fresh pull side from here: its memory while it only streams WAL is not what
    // the first pull left behind (V8 keeps what a pull grew to).
    await pull.stop();
    pull = await startPullSide(sandbox, asyncConfig, pull, 'streaming');
    await waitForReceiver(running, { synchronous: false });

    if (only.has('lag')) {
      step(`fallback lag while streaming, pgbench at ${rate} tps`);
      const load = pgbench(sandbox.active, { rate, seconds: 60 });
      const lag = await measureLag(sandbox, { seconds: 30 });
      await load.stop();
      rows.push({
        what: `fallback lag while streaming (${lag.samples} probes, both fallbacks)`,
        value: `median ${lag.medianMs.toFixed(0)} ms, p95 ${lag.p95Ms.toFixed(0)} ms, worst ${lag.worstMs.toFixed(0)} ms`,
        target: verdict(lag.medianMs <= 1000, 'median <= 1 s'),
      });
    }
    if (only.has('rpo')) {
      step(`RPO, asynchronous: ${runs} runs of the active's host dying under load`);
      const asyncRpo: number[] = [];
      for (let run = 1; run <= runs; run++) asyncRpo.push(await rpoRun(sandbox, running, run));
      rows.push({
        what: `RPO asynchronous (${runs} runs: ${asyncRpo.map((s) => s.toFixed(2)).join(', ')} s)`,
        value: `median ${percentile(asyncRpo, 50).toFixed(2)} s, worst ${Math.max(...asyncRpo).toFixed(2)} s`,
        target: verdict(
          percentile(asyncRpo, 50) <= 1 && Math.max(...asyncRpo) <= 3,
          'median <= 1 s, worst <= 3 s',
        ),
      });
    }
    if (only.has('replay')) {
      step(
        `replay of ${(replayBytes / 1024 ** 3).toFixed(1)} GB of WAL: archive (restore_command) vs local pg_wal`,
      );
      pull.phase('pulling');
      const replay = await measureReplay(sandbox, running, {
        bytes: replayBytes,
        rounds: replayRounds,
        step,
      });
      const each = replay.rounds
        .map((r) => `${r.localSeconds.toFixed(1)}/${r.archiveSeconds.toFixed(1)}`)
        .join(', ');
      rows.push({
        what: `replay of ${(replay.walBytes / 1024 ** 3).toFixed(2)} GB of WAL (median of ${replay.rounds.length}: local/archive ${each} s): local pg_wal ${replay.localSeconds.toFixed(1)} s, through restore_command ${replay.archiveSeconds.toFixed(1)} s`,
        value: `${replay.speed.toFixed(2)}x the local speed (median of the rounds' ratios)`,
        target: verdict(replay.speed >= 0.8, '>= 0.8x'),
      });
      rows.push({
        what: "the archive side's agent, CPU per segment it placed, from the server's start (each round)",
        value: replay.rounds
          .map((r) => `user ${r.agentUserMs.toFixed(0)} ms + system ${r.agentSystemMs.toFixed(0)} ms`)
          .join(', '),
        target: 'for reading the replay',
      });
    }
    if (only.has('catchup')) {
      step(`catch-up: fallback shop-b stopped for ${catchUpSeconds} s of load`);
      const catchUp = await measureCatchUp(sandbox, running, catchUpSeconds);
      rows.push({
        what: `catch-up after ${catchUpSeconds} s down (${(catchUp.behindBytes / 1e6).toFixed(0)} MB of WAL behind)`,
        value: `streaming again after ${catchUp.seconds.toFixed(1)} s (archive first: ${catchUp.fromArchive ? 'yes' : 'no'})`,
        target: 'back to streaming',
      });
    }
    const bytes = await walBytesPerGb(sandbox.archive);
    rows.push({
      what: `archive's WAL bytes (${bytes.segments} segments)`,
      value: `${(bytes.perGb / 1e6).toFixed(0)} MB per GB of WAL`,
    });

    if (only.has('sync')) {
      step('synchronous mode: TPS and latency beside asynchronous');
      const asyncTps = await pgbench(sandbox.active, { clients: 4, seconds: 20 }).done;
      await pull.stop();
      pull = await startPullSide(sandbox, syncConfig, pull, 'pulling');
      await waitForReceiver(running, { synchronous: true });
      const syncTps = await pgbench(sandbox.active, { clients: 4, seconds: 20 }).done;
      rows.push(tpsRow('asynchronous', asyncTps), tpsRow('synchronous', syncTps));
      rows.push({
        what: 'synchronous mode costs',
        value: `${((1 - syncTps.tps / asyncTps.tps) * 100).toFixed(0)}% of TPS, +${(syncTps.latencyMs - asyncTps.latencyMs).toFixed(2)} ms per commit`,
      });

      step(`RPO, synchronous: ${syncRuns} runs`);
      const syncRpo: number[] = [];
      for (let run = 1; run <= syncRuns; run++) syncRpo.push(await rpoRun(sandbox, running, 100 + run));
      rows.push({
        what: `RPO synchronous (${syncRuns} runs: ${syncRpo.map((s) => s.toFixed(2)).join(', ')} s)`,
        value: `worst ${Math.max(...syncRpo).toFixed(2)} s`,
        target: verdict(Math.max(...syncRpo) === 0, 'exactly 0'),
      });
    }
    const rss = pull.peaks();
    rows.push({
      what: 'receiver peak RSS (pull-backup process started fresh, while it only streams WAL; pg_receivewal beside it)',
      value: `${(rss.streaming / 1e6).toFixed(0)} MB (${(rss.streamingAnon / 1e6).toFixed(0)} MB of it anonymous) (+ pg_receivewal ${(rss.receivewal / 1e6).toFixed(0)} MB); with pulls ${(rss.all / 1e6).toFixed(0)} MB`,
      target: verdict(rss.streaming + rss.receivewal <= 150e6, '<= 150 MB'),
    });
  } finally {
    await cleanup();
  }
  console.log(`\nbench:wal, pgbench scale ${scale}, steady load ${rate} tps\n`);
  const width = Math.max(...rows.map((row) => row.what.length));
  for (const row of rows) {
    console.log(`${row.what.padEnd(width)}  ${row.value}${row.target ? `  [${row.target}]` : ''}`);
  }
}

function verdict(ok: boolean, target: string): string {
  return `${ok ? 'ok' : 'MISSED'}: ${target}`;
}

function tpsRow(mode: string, result: LoadResult): Row {
  return {
    what: `pgbench 4 clients, 20 s, ${mode}`,
    value: `${result.tps.toFixed(0)} TPS, ${result.latencyMs.toFixed(2)} ms per transaction`,
  };
}

/**
 * One death of the active's host under load: a client commits numbered rows one by
 * one and notes when each was acknowledged; the postmaster and its processes are
 * killed at once; once the pull side has stored what it received, the archive's
 * WAL is read (pg_waldump) for the commits it holds. The RPO is the time between
 * the first acknowledged commit the archive lacks and the death (0 when it lacks none).
 */
async function rpoRun(sandbox: Sandbox, running: RunningPipeline, run: number): Promise<number> {
  const from = await sandbox.active.psql('select pg_current_wal_lsn()');
  const background = pgbench(sandbox.active, { rate, seconds: 120 });
  const committer = commitLoad(sandbox.active, run);
  // Let the load settle into a steady stream before the host dies.
  await committer.until((acked) => acked.length >= 200);
  await sleep(5_000);
  await sandbox.active.crash();
  const diedAt = Date.now();
  const acked = await committer.stop();
  await background.stop();
  await waitForArchiveToSettle(sandbox.archive, running);
  step(`  run ${run}: the archive settled ${((Date.now() - diedAt) / 1000).toFixed(1)} s after the death`);
  const inArchive = await committedXids(sandbox, from);
  const missing = acked.filter((commit) => !inArchive.has(commit.xid));
  const rpo = missing.length === 0 ? 0 : (diedAt - Math.min(...missing.map((c) => c.ackedAt))) / 1000;
  step(
    `  run ${run}: ${acked.length} commits acknowledged, ${missing.length} not in the archive, RPO ${rpo.toFixed(2)} s`,
  );
  await sandbox.active.restart();
  await waitForReceiver(running, {});
  return rpo;
}

/** Waits until the component's WAL receiver reports streaming (and synchronous, when asked). */
async function waitForReceiver(
  running: RunningPipeline,
  expected: { synchronous?: boolean },
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const component = await running.pipeline.registry.component(SANDBOX_COMPONENT);
    const receiver = component?.walReceiver;
    if (
      receiver?.streaming &&
      (expected.synchronous === undefined || receiver.synchronous === expected.synchronous)
    ) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`the WAL receiver is not streaming: ${receiver?.reason ?? 'no report'}`);
    }
    await sleep(200);
  }
}

/**
 * Stops fallback shop-b's server for `seconds` of load, starts it again, and times its
 * return to streaming: what it lacks comes from the archive when the active recycled it.
 */
async function measureCatchUp(
  sandbox: Sandbox,
  running: RunningPipeline,
  seconds: number,
): Promise<{ seconds: number; behindBytes: number; fromArchive: boolean }> {
  const fallback = sandbox.fallbacks[0]!;
  const servers = (await import('@pullback/workers')).builtInRecipe('postgres')?.localServers;
  if (servers === undefined) throw new Error('no local servers');
  await servers.stop(fallback.dataDir);
  const stoppedAt = await sandbox.active.psql('select pg_current_wal_lsn()');
  const load = pgbench(sandbox.active, { rate, seconds });
  await load.done;
  // The active keeps no WAL for it: what the fallback needs is only in the archive now.
  await sandbox.active.psql('checkpoint');
  await sandbox.active.psql('select pg_switch_wal()');
  await sandbox.active.psql('checkpoint');
  const target = await sandbox.active.psql('select pg_current_wal_lsn()');
  const behindBytes = Number(
    await sandbox.active.psql(`select '${target}'::pg_lsn - '${stoppedAt}'::pg_lsn`),
  );
  const oldest = await sandbox.active.psql(
    "select min(name) from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$'",
  );
  const started = Date.now();
  await execFileAsync('runuser', [
    '-u',
    'postgres',
    '--',
    join(sandbox.active.binDir, 'pg_ctl'),
    'start',
    '--wait',
    '--timeout=600',
    '-D',
    fallback.dataDir,
    '-l',
    join(fallback.dataDir, 'log', 'postmaster.log'),
  ]);
  const fallbackUrl = `postgresql://postgres@127.0.0.1:${fallback.port}/postgres`;
  const psqlFallback = async (sql: string) =>
    (
      await execFileAsync(join(sandbox.active.binDir, 'psql'), [
        '-X',
        '-A',
        '-t',
        '-q',
        '-d',
        fallbackUrl,
        '-c',
        sql,
      ])
    ).stdout.trim();
  for (;;) {
    const row = await psqlFallback(
      `select coalesce((select status from pg_stat_wal_receiver), 'none') || ' ' || (pg_last_wal_replay_lsn() >= '${target}'::pg_lsn)`,
    ).catch(() => 'starting false');
    if (row === 'streaming true') break;
    if (Date.now() - started > 1_800_000) throw new Error(`shop-b did not catch up: ${row}`);
    await sleep(200);
  }
  const took = (Date.now() - started) / 1000;
  // The segment it stopped in was gone from the active's pg_wal: it came from the archive.
  const stoppedSegment = await sandbox.active.psql(`select pg_walfile_name('${stoppedAt}')`);
  void running;
  return { seconds: took, behindBytes, fromArchive: oldest > stoppedSegment };
}

/** The pull side as its own process, with its resident memory sampled by phase. */
interface PullSide {
  readonly child: ChildProcess;
  phase(name: 'streaming' | 'pulling'): void;
  peaks(): { streaming: number; streamingAnon: number; receivewal: number; all: number };
  stop(): Promise<void>;
}

async function startPullSide(
  sandbox: Sandbox,
  configPath: string,
  previous?: PullSide,
  initialPhase: 'streaming' | 'pulling' = 'pulling',
): Promise<PullSide> {
  // The `pullback` executable itself, as a user runs it: with the V8 settings of its shebang.
  const child = spawn(
    join(REPO, 'bin', 'pullback.js'),
    ['up', '--roles', 'pull-backup', '--config', configPath],
    {
      env: {
        ...process.env,
        ...sandbox.env,
        PULLBACK_PG_SOCKET_DIR: sandbox.socketDir,
        ...(rssLog === undefined
          ? {}
          : {
              NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${new URL('./wal/memory-probe.js', import.meta.url).href}`,
              BENCH_MEMORY_PROBE_FILE: `${rssLog}.probe`,
            }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`  pull side: ${chunk}`));
  for (const deadline = Date.now() + 60_000; !output.includes('running; stop with'); await sleep(100)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the pull side did not start: ${output}`);
  }
  const before = previous?.peaks();
  let phase = initialPhase;
  const peak = {
    streaming: before?.streaming ?? 0,
    streamingAnon: before?.streamingAnon ?? 0,
    receivewal: before?.receivewal ?? 0,
    all: before?.all ?? 0,
  };
  const started = Date.now();
  const timer = setInterval(() => {
    void peakRss(child.pid!).then(({ self, selfAnon, children }) => {
      peak.all = Math.max(peak.all, self);
      if (phase === 'streaming' && self > peak.streaming) {
        peak.streaming = self;
        peak.streamingAnon = selfAnon;
      }
      peak.receivewal = Math.max(peak.receivewal, children);
      // BENCH_RSS_LOG=FILE: every sample, to see what the peak grows from.
      if (rssLog !== undefined) {
        const line = `${((Date.now() - started) / 1000).toFixed(1)} ${phase} rss ${(self / 1e6).toFixed(1)} anon ${(selfAnon / 1e6).toFixed(1)} children ${(children / 1e6).toFixed(1)}\n`;
        void appendFile(rssLog, line);
      }
    });
  }, 500);
  return {
    child,
    phase: (name) => {
      phase = name;
    },
    peaks: () => ({ ...peak }),
    stop: async () => {
      clearInterval(timer);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    },
  };
}

main().catch((error: Error) => {
  console.error(`bench:wal: ${error.stack ?? error.message}`);
  process.exitCode = 1;
});
