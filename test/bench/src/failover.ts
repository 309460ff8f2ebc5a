/**
 * bench:failover: host deaths and planned switchovers on the demo's sandbox (pgbench
 * scale 10, BENCH_SCALE overrides) under a steady pgbench write load, each figure
 * beside the issue's target. Every host runs its own `pullback up` (an agent per
 * instance, the pull side with the election), as users deploy it; a client writes
 * one row at a time through the multi-host connection string and keeps what was
 * acknowledged; every instance's writability is sampled throughout.
 *
 * A round: the active's host dies (its agent and PostgreSQL SIGKILLed), the time until
 * the client's next write is acknowledged is taken, the new active's rows are compared
 * with every acknowledged write, the old host's agent is started again and the round
 * ends once the old active streams as a fallback (rewound).
 *
 * BENCH_DEATHS (10) deaths in asynchronous mode, BENCH_SWITCHOVERS (3) planned
 * switchovers, then BENCH_SYNC_DEATHS (3) deaths in synchronous mode (the pull side's
 * WAL receiver a synchronous standby, docs/wal.md), whose target is no acknowledged
 * write lost at all. Each switchover's output lines are timed as they come, so the
 * whole command is split into its steps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type DrillWriter,
  handOverToHosts,
  killActiveHost,
  rowsOn,
  runCycle,
  SANDBOX_COMPONENT,
  type Sandbox,
  type SandboxHosts,
  sandboxHosts,
  setWalSynchronous,
  startDrillWriter,
  startSandbox,
  until,
  waitStreaming,
  watchWritable,
} from '@pullback/cli/demo';
import { percentile } from './wal/figures.js';

const scale = Number(process.env.BENCH_SCALE ?? 10);
const deaths = Number(process.env.BENCH_DEATHS ?? 10);
const switchovers = Number(process.env.BENCH_SWITCHOVERS ?? 3);
const syncDeaths = Number(process.env.BENCH_SYNC_DEATHS ?? 3);
/** The steady background load: pgbench transactions per second, 2 clients, through the multi-host string. */
const rate = Number(process.env.BENCH_RATE ?? 100);
const REPO = join(import.meta.dirname, '..', '..', '..');

const step = (text: string) => console.error(`bench: ${new Date().toISOString().slice(11, 19)} ${text}`);

let sandbox: Sandbox | undefined;
let hosts: SandboxHosts | undefined;

async function cleanup(): Promise<void> {
  step('cleanup');
  await hosts?.stop().catch(() => {});
  await sandbox?.close();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    step(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

interface Round {
  readonly synchronous: boolean;
  readonly from: string;
  readonly to: string;
  readonly seconds: number;
  readonly lost: number;
  readonly lostOutsideRpo: number;
  readonly twoWritable: boolean;
  readonly rejoinSeconds: number;
}

async function main(): Promise<void> {
  step(`sandbox: pgbench -i -s ${scale}`);
  sandbox = await startSandbox({ scale, archive: 'fs', log: (line) => step(`  ${line}`) });
  const box = sandbox;
  const running = await box.startWorkers({});
  step('first cycle: export -> pull -> both fallbacks hot standbys');
  await runCycle(running.pipeline, SANDBOX_COMPONENT, { timeoutMs: 600_000 });
  hosts = sandboxHosts(box);
  const { pipeline, endpoints, uri } = await handOverToHosts(box, running, hosts, (line) =>
    step(line.trim()),
  );
  const registry = pipeline.registry;
  const active = async () => (await registry.component(SANDBOX_COMPONENT))?.active;
  const port = (name: string) => endpoints.find((endpoint) => endpoint.name === name)?.port ?? 0;

  await box.active.psql('create table drill (n int primary key)');
  const load = steadyLoad(box, uri);
  const writer = startDrillWriter(box, uri);
  const rounds: Round[] = [];
  const switches: {
    seconds: number;
    promotedSeconds: number | undefined;
    gapSeconds: number;
    lost: number;
    twoWritable: boolean;
  }[] = [];
  /** The next round only once every fallback is healthy in the registry again. */
  const everyFallbackHealthy = () =>
    until('every fallback healthy', 300_000, async () => {
      const current = await active();
      for (const endpoint of endpoints) {
        if (endpoint.name === current) continue;
        const state = (await registry.instance(endpoint.name))?.state;
        if (state?.healthy !== true) return false;
      }
      return true;
    });
  let judged = 0;
  /** Switchovers refused, each with its one line. */
  const refusals: string[] = [];
  let refusedTwoWritable = 0;
  const deathRound = async (round: number, total: number, synchronous: boolean): Promise<Round> => {
    const watch = watchWritable(box, endpoints);
    const death = await killActiveHost(box, hosts!, writer, { active, endpoints, judgedUpTo: judged });
    // A write judged lost here is not counted again by the next round.
    judged = writer.acknowledged.length;
    const restarted = Date.now();
    await hosts!.startAgent(death.from);
    await waitStreaming(box, port(death.from), 180_000);
    const rejoinSeconds = (Date.now() - restarted) / 1000;
    await watch.stop();
    const result: Round = {
      synchronous,
      from: death.from,
      to: death.to,
      seconds: death.deathToWritableMs / 1000,
      lost: death.lost.length,
      lostOutsideRpo: death.lostOutsideRpo.length,
      twoWritable: watch.twoWritable.length > 0 || watch.writableSince(death.from, death.killedAt),
      rejoinSeconds,
    };
    step(
      `${synchronous ? 'synchronous ' : ''}death ${round}/${total}: ${result.from} -> ${result.to}, writable after ${result.seconds.toFixed(1)} s, ${result.lost} acknowledged writes lost, two writable: ${result.twoWritable ? 'YES' : 'no'}; old active streaming again ${rejoinSeconds.toFixed(1)} s after its agent restarted`,
    );
    await everyFallbackHealthy();
    return result;
  };
  try {
    await until('writes acknowledged', 60_000, async () => writer.acknowledged.length >= 20);
    for (let round = 1; round <= deaths; round++) rounds.push(await deathRound(round, deaths, false));
    for (let round = 1; round <= switchovers; round++) {
      const watch = watchWritable(box, endpoints);
      const from = await active();
      const run = await timedSwitchover(box).catch((error: Error) => error);
      if (run instanceof Error) {
        // A refusal is an outcome to count, not the end of the run: the election fails
        // the stopped active over, and the next round waits for it.
        await watch.stop();
        refusals.push(run.message);
        if (watch.twoWritable.length > 0) refusedTwoWritable += 1;
        step(`switchover ${round}/${switchovers} refused: ${run.message}`);
        await writer.nextAcknowledgedAfter(Date.now(), 180_000);
        judged = writer.acknowledged.length;
        await everyFallbackHealthy();
        continue;
      }
      const to = await active();
      const gap = writeGap(writer, run.started);
      const acknowledged = writer.acknowledged.slice(judged);
      judged = writer.acknowledged.length;
      const rows = await rowsOn(box, port(to ?? ''));
      await watch.stop();
      const lost = acknowledged.filter((write) => !rows.has(write.n)).length;
      switches.push({
        seconds: run.seconds,
        promotedSeconds: run.promotedSeconds,
        gapSeconds: gap,
        lost,
        twoWritable: watch.twoWritable.length > 0,
      });
      step(
        `switchover ${round}/${switchovers}: ${from} -> ${to} in ${run.seconds.toFixed(2)} s (writes refused ${gap.toFixed(2)} s), ${lost} lost; ${run.lines.at(-2)?.line}`,
      );
      step(
        `  steps: ${run.lines.map((l) => `${(l.ms / 1000).toFixed(2)} s ${l.line.slice(0, 60)}`).join(' | ')}`,
      );
      if (from !== undefined) await waitStreaming(box, port(from), 180_000);
      await everyFallbackHealthy();
    }
    if (syncDeaths > 0) {
      step('synchronous mode: the pull side started again with wal: { synchronous: true }');
      await setWalSynchronous(box, hosts, registry, true);
      judged = writer.acknowledged.length;
      await writer.nextAcknowledgedAfter(Date.now(), 60_000);
      for (let round = 1; round <= syncDeaths; round++)
        rounds.push(await deathRound(round, syncDeaths, true));
    }
  } finally {
    await writer.stop();
    await load.stop();
    await pipeline.close();
  }

  const lines: [string, string, string?][] = [];
  for (const synchronous of [false, true]) {
    const these = rounds.filter((round) => round.synchronous === synchronous);
    if (these.length === 0) continue;
    const mode = synchronous ? 'synchronous' : 'asynchronous';
    const seconds = these.map((round) => round.seconds);
    lines.push([
      `${mode}: death to a writable new active (${these.length} host deaths: ${seconds.map((s) => s.toFixed(1)).join(', ')} s)`,
      `median ${percentile(seconds, 50).toFixed(1)} s, worst ${Math.max(...seconds).toFixed(1)} s`,
      verdict(percentile(seconds, 50) <= 8 && Math.max(...seconds) <= 15, 'median <= 8 s, worst <= 15 s'),
    ]);
    lines.push(
      synchronous
        ? [
            `${mode}: acknowledged writes lost`,
            String(sum(these.map((r) => r.lost))),
            verdict(sum(these.map((r) => r.lost)) === 0, '0'),
          ]
        : [
            `${mode}: acknowledged writes lost (${writer.acknowledged.length} acknowledged in the whole run)`,
            `${sum(these.map((r) => r.lost))} (${sum(these.map((r) => r.lostOutsideRpo))} older than the 1 s RPO)`,
            verdict(sum(these.map((r) => r.lostOutsideRpo)) === 0, 'within the RPO'),
          ],
    );
    lines.push([
      `${mode}: old active streaming again after its agent restarted (pg_rewind)`,
      `median ${percentile(
        these.map((r) => r.rejoinSeconds),
        50,
      ).toFixed(1)} s, worst ${Math.max(...these.map((r) => r.rejoinSeconds)).toFixed(1)} s`,
    ]);
  }
  if (refusals.length > 0) {
    lines.push([
      `planned switchovers refused (of ${switchovers})`,
      `${refusals.length}: ${refusals.map((line) => line.slice(0, 200)).join(' / ')}`,
      verdict(false, '0'),
    ]);
  }
  if (switches.length > 0) {
    // What a client sees of a planned switchover is the time its writes are refused; the
    // command also starts a Node process, re-points the other fallbacks and restarts the
    // old active as one, after the new active already takes writes.
    const gaps = switches.map((s) => s.gapSeconds);
    const promoted = switches.flatMap((s) => (s.promotedSeconds === undefined ? [] : [s.promotedSeconds]));
    const wholes = switches.map((s) => s.seconds);
    lines.push([
      `planned switchover, client's writes refused (${switches.length}: ${gaps.map((s) => s.toFixed(2)).join(', ')} s)`,
      `median ${percentile(gaps, 50).toFixed(2)} s, worst ${Math.max(...gaps).toFixed(2)} s, ${sum(switches.map((s) => s.lost))} lost`,
      verdict(percentile(gaps, 50) <= 2 && sum(switches.map((s) => s.lost)) === 0, '<= 2 s, 0 lost'),
    ]);
    lines.push([
      `planned switchover, the command: start to the new active promoted (${promoted.map((s) => s.toFixed(2)).join(', ')} s)`,
      promoted.length === 0
        ? 'none promoted'
        : `median ${percentile(promoted, 50).toFixed(2)} s, worst ${Math.max(...promoted).toFixed(2)} s`,
    ]);
    lines.push([
      `planned switchover, the whole command, the old active following included (${wholes.map((s) => s.toFixed(2)).join(', ')} s)`,
      `median ${percentile(wholes, 50).toFixed(2)} s, worst ${Math.max(...wholes).toFixed(2)} s`,
    ]);
  }
  const twoWritable =
    rounds.filter((r) => r.twoWritable).length +
    switches.filter((s) => s.twoWritable).length +
    refusedTwoWritable;
  lines.push([
    `rounds with two writable instances (${rounds.length + switches.length + refusals.length} rounds)`,
    String(twoWritable),
    verdict(twoWritable === 0, '0'),
  ]);
  const width = Math.max(...lines.map(([what]) => what.length));
  console.log(
    `bench:failover, pgbench scale ${scale}, ${rate} tps of background load, ${new Date().toISOString()}, load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const [what, value, target] of lines)
    console.log(`${what.padEnd(width)}  ${value}${target ? `  [${target}]` : ''}`);
}

/**
 * `pullback switchover` as a user runs it, a Node process of its own, each line of its
 * output timed as it comes (ms after the spawn): the steps of the whole command.
 */
async function timedSwitchover(box: Sandbox): Promise<{
  started: number;
  seconds: number;
  promotedSeconds: number | undefined;
  lines: { ms: number; line: string }[];
}> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [join(REPO, 'bin', 'pullback.js'), 'switchover', SANDBOX_COMPONENT, '--config', box.configPath],
    { env: { ...process.env, ...box.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
  );
  const lines: { ms: number; line: string }[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const reading = (async () => {
    for await (const line of createInterface({ input: child.stdout }))
      lines.push({ ms: Date.now() - started, line });
  })();
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  await reading;
  const seconds = (Date.now() - started) / 1000;
  lines.push({ ms: seconds * 1000, line: `exit ${code}` });
  if (code !== 0)
    throw new Error(
      `switchover failed (exit ${code}): ${stderr.trim() || lines.map((l) => l.line).join('; ')}`,
    );
  const promoted = lines.find((l) => / promoted at epoch \d+: it takes writes/.test(l.line));
  return {
    started,
    seconds,
    promotedSeconds: promoted === undefined ? undefined : promoted.ms / 1000,
    lines,
  };
}

/** The longest time after `since` between two acknowledged writes: what the client saw refused. */
function writeGap(writer: DrillWriter, since: number): number {
  const times = writer.acknowledged.filter((write) => write.at >= since - 1000).map((write) => write.at);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i]! - times[i - 1]!) / 1000);
  return gap;
}

/**
 * pgbench through the multi-host string at `rate` transactions per second, started
 * again whenever it ends (it gives up on a connection that dies with the host).
 */
function steadyLoad(box: Sandbox, uri: string): { stop(): Promise<void> } {
  let stopped = false;
  let child: ChildProcess | undefined;
  const loop = (async () => {
    while (!stopped) {
      child = spawn(
        join(box.active.binDir, 'pgbench'),
        ['-n', '-c', '2', '-R', String(rate), '-T', '3600', uri],
        {
          stdio: 'ignore',
        },
      );
      await new Promise((resolve) => child?.once('exit', resolve));
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      child?.kill('SIGTERM');
      await loop;
    },
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function verdict(ok: boolean, target: string): string {
  return `${ok ? 'ok' : 'MISSED'}: ${target}`;
}

/** The hosts' and the servers' logs, copied out of the sandbox before it is removed, for reading why. */
async function keepLogs(): Promise<void> {
  const keep = process.env.BENCH_FAILOVER_LOGS ?? '/tmp/bench-failover-logs';
  if (sandbox === undefined) return;
  await cp(sandbox.dir, keep, {
    recursive: true,
    // Data files and sockets stay (cp stops at a socket).
    filter: (path) => !/\/(base|global|pg_wal|archive|outbox|staging|socket)(\/|$)/.test(path),
  }).catch((error: Error) => console.error(`bench:failover: copying the logs: ${error.message}`));
  console.error(`bench:failover: the sandbox's logs are in ${keep}`);
}

main()
  .then(async () => {
    if (process.env.BENCH_FAILOVER_LOGS !== undefined) await keepLogs();
  })
  .catch(async (error: Error) => {
    console.error(`bench:failover: ${error.stack ?? error.message}`);
    process.exitCode = 1;
    await keepLogs();
  })
  .finally(() => cleanup());
