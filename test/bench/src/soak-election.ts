/**
 * soak:election: rounds of mixed faults from issue 11's list on the demo's sandbox
 * (pgbench scale 10, BENCH_SCALE overrides), SOAK_ROUNDS of them (50), under a steady
 * pgbench write load (BENCH_RATE, 100 TPS) and a client writing one row at a time
 * through the multi-host connection string. Every host runs its own `pullback up` as
 * in bench:failover (test/bench/src/failover.ts), plus a second election worker
 * (`up --roles election`), so a paused leader is replaced as the issue's lease says.
 *
 * The rounds cycle through: the active's host dies; the election leader SIGSTOPped past
 * its lease during a host death; Redis restarted (with its data) in the middle of a
 * failover; `import --activate` by hand racing the failover; the active's server
 * killed while its agent lives; Redis stopped with every server healthy; a planned
 * switchover. Each round samples every instance's writability throughout and ends
 * once the component is whole again (every instance a streaming, healthy fallback
 * but the active). Not here: the network partition (services/cli/test/partition-netns.test.ts
 * needs root and `ip netns`) and Redis restarted empty (its convergence is not bounded
 * yet: workers/election/test/election-redis-restart.test.ts).
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import {
  handOverToHosts,
  runCycle,
  SANDBOX_COMPONENT,
  type Sandbox,
  type SandboxHosts,
  sandboxHosts,
  startDrillWriter,
  startSandbox,
  until,
} from '@pullback/cli/demo';
import { hostDies, leaderPaused, manualRace, redisRestarted } from './soak/death-faults.js';
import type { Fault } from './soak/fault.js';
import { redisStopped, serverStopped, switchover } from './soak/live-faults.js';
import { describeRound, type RoundResult, runRound } from './soak/round.js';
import { steadyLoad } from './soak/steady-load.js';
import { soakTable } from './soak/table.js';
import { type SoakProcess, soakWorld, startSecondElection } from './soak/world.js';

const rounds = Number(process.env.SOAK_ROUNDS ?? 50);
const scale = Number(process.env.BENCH_SCALE ?? 10);
const rate = Number(process.env.BENCH_RATE ?? 100);
/** SOAK_FAULTS (names, comma-separated) runs only those, to look at one closely. */
const only = process.env.SOAK_FAULTS?.split(',').map((name) => name.trim());
const FAULTS: readonly Fault[] = [
  hostDies,
  leaderPaused,
  redisRestarted,
  manualRace,
  serverStopped,
  redisStopped,
  switchover,
].filter((fault) => only === undefined || only.includes(fault.name));

const step = (text: string) => console.error(`soak: ${new Date().toISOString().slice(11, 19)} ${text}`);

let sandbox: Sandbox | undefined;
let hosts: SandboxHosts | undefined;
let secondElection: SoakProcess | undefined;

async function cleanup(): Promise<void> {
  step('cleanup');
  await secondElection?.stop().catch(() => {});
  await hosts?.stop().catch(() => {});
  await sandbox?.close();
}

const results: RoundResult[] = [];
let acknowledged = 0;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    step(`${signal}: stopping`);
    // The rounds done so far are figures too.
    printSummary();
    void keepLogs()
      .then(() => cleanup())
      .finally(() => process.exit(130));
  });
}

function printSummary(): void {
  console.log(
    `\nsoak:election, ${results.length} rounds, pgbench scale ${scale}, ${rate} tps of background load, ${acknowledged} writes acknowledged to the client, ${new Date().toISOString()}`,
  );
  for (const line of soakTable(
    results,
    FAULTS.map((fault) => fault.name),
  ))
    console.log(line);
}

async function main(): Promise<boolean> {
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
  secondElection = await startSecondElection(box);
  step(`pullback up --roles election  (pid ${secondElection.pid}, a second election worker)`);
  await box.active.psql('create table drill (n int primary key)');
  const load = steadyLoad(box, uri, rate);
  const writer = startDrillWriter(box, uri);
  const w = soakWorld({ box, hosts, registry: pipeline.registry, endpoints, writer, secondElection, step });
  try {
    await until('writes acknowledged', 60_000, async () => writer.acknowledged.length >= 20);
    let judged = 0;
    for (let round = 1; round <= rounds; round++) {
      const fault = FAULTS[(round - 1) % FAULTS.length] as Fault;
      const occurrence = Math.floor((round - 1) / FAULTS.length);
      step(`round ${round}/${rounds}: ${fault.name}`);
      const result = await runRound(w, round, fault, occurrence, judged);
      // A write judged here is not counted again by the next round.
      judged = writer.acknowledged.length;
      acknowledged = judged;
      results.push(result);
      console.log(describeRound(result, rounds));
      if (result.failures.some((failure) => failure.startsWith('did not recover'))) {
        step('the component is not whole again: the soak stops here');
        break;
      }
    }
  } finally {
    await writer.stop();
    await load.stop();
    await pipeline.close();
  }
  printSummary();
  return results.length === rounds && results.every((r) => r.failures.length === 0 && !r.twoWritable);
}

/** The hosts' and servers' logs outlive the sandbox, for reading why. */
async function keepLogs(): Promise<void> {
  const keep = process.env.SOAK_LOGS ?? '/tmp/soak-election-logs';
  if (sandbox === undefined) return;
  await cp(sandbox.dir, keep, {
    recursive: true,
    // Not the data, nor the servers' Unix sockets (cp stops at the first it cannot copy).
    filter: (path) => !/\/(base|global|pg_wal|archive|outbox|staging|socket)(\/|$)/.test(path),
  }).catch(() => {});
  // The first active's data directory is the harness's, outside the sandbox's directory.
  await cp(join(sandbox.active.dataDir, 'log'), join(keep, 'shop-a-log'), { recursive: true }).catch(
    () => {},
  );
  console.error(`soak:election: the sandbox's logs are in ${keep}`);
}

main()
  .then(async (ok) => {
    if (!ok) {
      process.exitCode = 1;
      await keepLogs();
    }
  })
  .catch(async (error: Error) => {
    console.error(`soak:election: ${error.stack ?? error.message}`);
    process.exitCode = 1;
    await keepLogs();
  })
  .finally(() => cleanup());
