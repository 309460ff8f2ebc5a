import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { listSnapshots } from '@pullback/archive';
import { freePort } from '@pullback/harness';
import { errorLog, type LogFormat } from '@pullback/pipeline/log';
import type { RunningPipeline } from '@pullback/workers';
import { type AuditServer, startAuditServer } from '../audit-server.js';
import type { CommandContext } from '../context.js';
import { type CycleResult, describeStages, runCycle, stagesOfCycle, watchStages } from '../demo/cycle.js';
import { failoverEnding } from '../demo/failover-ending.js';
import { type SandboxHosts, sandboxHosts } from '../demo/hosts.js';
import { restoreBetweenRows } from '../demo/point-in-time.js';
import { SANDBOX_COMPONENT, type Sandbox, startSandbox } from '../demo/sandbox.js';
import { CliError } from '../errors.js';
import { openProcessLogger } from '../process-logger.js';
import { renderStatus } from '../status-view.js';

const execFileAsync = promisify(execFile);

export interface DemoOptions {
  /** Leave the sandbox running (servers and workers) until Ctrl-C. */
  readonly keep?: boolean;
  /** `--log-format` of the workers' error lines; the demo's own story stays plain text. */
  readonly logFormat?: LogFormat;
}

const AFTER_FIRST = 'written after the first snapshot';
const BEFORE_MOMENT = 'written before the moment';
const AFTER_MOMENT = 'written after the moment';

/**
 * `pullback demo`: a local sandbox running the whole pipeline. Starts S3, Redis, an
 * active PostgreSQL with generated data and two fallbacks, runs every worker in
 * this process, takes two export → pull → import cycles around a marker row, shows
 * the row on both fallbacks and its absence from an audit restore of the first
 * snapshot, then cleans everything up (or, with --keep, waits for Ctrl-C first).
 * PULLBACK_DEMO_SCALE sets the pgbench scale (default 5).
 */
export async function demo(options: DemoOptions, context: CommandContext): Promise<void> {
  const say = (line = '') => context.stdout.write(`${line}\n`);
  const scale = Number(context.env.PULLBACK_DEMO_SCALE ?? 5);
  if (!Number.isInteger(scale) || scale < 1) {
    throw new CliError(
      `PULLBACK_DEMO_SCALE must be a whole number from 1, got ${context.env.PULLBACK_DEMO_SCALE}`,
    );
  }
  const { logger } = await openProcessLogger(options, context);
  const timeline: { step: string; ms: number }[] = [];
  const step = async <T>(title: string, work: () => Promise<T>): Promise<T> => {
    say();
    say(`==> ${title}`);
    const started = Date.now();
    const result = await work();
    const ms = Date.now() - started;
    timeline.push({ step: title, ms });
    say(`    (${seconds(ms)})`);
    return result;
  };

  say(`pullback demo: a whole Pullback installation on this machine, pgbench scale ${scale}`);
  let sandbox: Sandbox | undefined;
  let hosts: SandboxHosts | undefined;
  let processes: { name: string; pid: number }[] = [];
  let left: { name: string; pid: number }[] = [];
  try {
    sandbox = await step('start the sandbox: S3, Redis, an active PostgreSQL with data, two fallbacks', () =>
      startSandbox({
        scale,
        archive: 's3',
        log: (line) => say(`    ${line}`),
        onError: errorLog(logger),
        signal: context.signal,
      }),
    );
    const box = sandbox;
    say(`    sandbox:  ${box.dir}`);
    say(`    config:   ${box.configPath}`);
    say(`    key:      ${box.keyFile}`);
    say(`    archive:  ${box.config.archive.url} on s3rver at ${box.s3?.endpoint}`);
    say(`    redis:    ${box.redis.url}`);
    say(`    active:   shop-a on 127.0.0.1:${box.active.port}`);
    for (const fallback of box.fallbacks) {
      say(`    fallback: ${fallback.name} on 127.0.0.1:${fallback.port}, data in ${fallback.dataDir}`);
    }

    const running = await step(
      'start the workers in this process (export, pull-backup, import)',
      async () => {
        const started = await box.startWorkers({ signal: context.signal });
        say(`    ${started.workers.length} roles running against ${box.redis.url}`);
        return started;
      },
    );
    const stages = watchStages(running);

    const first = await step(
      'cycle 1: export --now -> pull into the archive -> import on both fallbacks',
      () => cycle(running, undefined),
    );
    say(`    snapshot ${first.snapshotId.slice(0, 12)}: both fallbacks are hot standbys at it`);
    say(`    ${describeStages(stagesOfCycle(stages.records, first), first)}`);

    await step('status (what `pullback status` shows)', async () => {
      for (const line of renderStatus(await running.pipeline.readStatus())
        .trimEnd()
        .split('\n')) {
        say(`    ${line}`);
      }
    });

    await step('write a marker row on the active', async () => {
      await box.active.psql(`insert into marker (note) values ('${AFTER_FIRST}')`);
      say(`    shop-a: insert into marker (note) values ('${AFTER_FIRST}')`);
    });

    await step('the row on both fallbacks, streamed from the active (no export)', async () => {
      const written = Date.now();
      for (const fallback of box.fallbacks) {
        say(`    ${fallback.name}: psql -h 127.0.0.1 -p ${fallback.port} -U postgres`);
        let output = '';
        // Streaming takes milliseconds; a loaded machine may take longer.
        for (const deadline = Date.now() + 30_000; ; await sleep(50)) {
          output = await psql(box, fallback.port, 'select id, note from marker order by id');
          if (output.includes(AFTER_FIRST)) break;
          if (Date.now() > deadline) throw new Error(`${fallback.name} does not show the marker row`);
        }
        for (const line of output.trimEnd().split('\n')) say(`      ${line}`);
        const recovery = await psql(box, fallback.port, 'select pg_is_in_recovery()', ['-At']);
        if (recovery.trim() !== 't') throw new Error(`${fallback.name} is not in recovery`);
      }
      say(
        `    both show the row ${Date.now() - written} ms after it was written, with no export, and both are in recovery: they refuse writes`,
      );
    });

    const second = await step('cycle 2: export -> pull -> import again', () =>
      cycle(running, first.snapshotId),
    );
    say(`    snapshot ${second.snapshotId.slice(0, 12)}: both fallbacks are hot standbys at it`);
    say(`    ${describeStages(stagesOfCycle(stages.records, second), second)}`);

    const audit = await step('restore the FIRST snapshot for an audit (restore --start)', async () => {
      const port = await freePort();
      const target = join(box.dir, 'audit');
      box.adopt(target);
      const [snapshot] = await listSnapshots(box.archive, { component: SANDBOX_COMPONENT });
      if (snapshot === undefined || snapshot.id !== first.snapshotId) {
        throw new Error('the first snapshot is not the oldest in the archive');
      }
      const server: AuditServer = await startAuditServer(box.archive, snapshot, {
        target,
        port,
        signal: context.signal,
      });
      say(
        `    pullback restore ${snapshot.id.slice(0, 12)} --component ${SANDBOX_COMPONENT} --target ${target} --start --port ${port}`,
      );
      say(`    ${server.connect}`);
      const output = await psql(box, port, 'select id, note from marker order by id');
      for (const line of output.trimEnd().split('\n')) say(`      ${line}`);
      if (output.includes(AFTER_FIRST))
        throw new Error('the audit of the first snapshot shows the later row');
      say('    the audit lacks the row written after its snapshot, as it should');
      return server;
    });

    await step("restore --at a moment between two rows, from the archive's WAL (no export)", async () => {
      const port = await freePort();
      const target = join(box.dir, 'point-in-time');
      const { moment, printed } = await restoreBetweenRows(
        box,
        { before: BEFORE_MOMENT, after: AFTER_MOMENT },
        { dir: target, port },
        context,
      );
      say(`    shop-a: '${BEFORE_MOMENT}', then at ${moment} nothing, then '${AFTER_MOMENT}'`);
      say(
        `    pullback restore --component ${SANDBOX_COMPONENT} --at ${moment} --target ${target} --start --port ${port}`,
      );
      for (const line of printed) say(`    ${line}`);
      const output = await psql(box, port, 'select id, note from marker order by id');
      for (const line of output.trimEnd().split('\n')) say(`      ${line}`);
      if (!output.includes(BEFORE_MOMENT) || output.includes(AFTER_MOMENT)) {
        throw new Error('the point-in-time restore does not show exactly the rows before its moment');
      }
      say('    it shows the row before the moment and not the one after: paused there, read-only');
    });

    hosts = sandboxHosts(box);
    await step("the active's host dies: the election promotes a fallback, the old active rejoins", () =>
      failoverEnding(box, running, hosts as SandboxHosts, say),
    );

    processes = [
      ...(await box.processes()),
      ...(hosts?.processes() ?? []).map((host) => ({ name: `pullback up (${host.name})`, pid: host.pid })),
    ];
    say();
    say('==> servers running in the sandbox');
    for (const process of processes) say(`    process: ${process.name} pid ${process.pid}`);

    say();
    say('==> what to try next');
    const exports = Object.entries(box.env)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ');
    const tryNext = [
      `export ${exports}`,
      'npx pullback status',
      `npx pullback snapshots --component ${SANDBOX_COMPONENT}`,
      `npx pullback export ${SANDBOX_COMPONENT} --now`,
      `npx pullback restore latest --component ${SANDBOX_COMPONENT} --target ${join(box.dir, 'audit-2')} --start --port <free port>`,
      `psql -h 127.0.0.1 -p ${box.fallbacks[0]?.port} -U postgres -c 'select * from marker'`,
      `${audit.connect} -c 'select * from marker'   # the audit of the first snapshot`,
    ];
    for (const line of tryNext) say(`    ${line}`);
    if (!options.keep) say('    (run `npm run demo -- --keep` to keep the sandbox running and try these)');

    say();
    say('==> timeline');
    const width = Math.max(...timeline.map((entry) => entry.step.length));
    for (const entry of timeline) say(`    ${entry.step.padEnd(width)}  ${seconds(entry.ms).padStart(7)}`);

    if (options.keep) {
      say();
      say(`the sandbox keeps running in ${box.dir}; press Ctrl-C to stop it and clean up`);
      await new Promise<void>((resolve) => {
        if (context.signal.aborted) resolve();
        else context.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  } finally {
    if (sandbox !== undefined) {
      say();
      say('==> cleanup');
      const started = Date.now();
      processes = processes.length > 0 ? processes : await sandbox.processes().catch(() => []);
      await hosts?.stop();
      await sandbox.close();
      left = await stillRunning(processes);
      say(
        `    stopped ${processes.length - left.length} servers and the workers, removed ${sandbox.dir} (${seconds(Date.now() - started)})`,
      );
    }
  }
  if (left.length > 0) {
    throw new CliError(
      `servers still running after cleanup: ${left.map((process) => `${process.name} pid ${process.pid}`).join(', ')}`,
    );
  }
  say('pullback demo: done');

  async function cycle(running: RunningPipeline, previous: string | undefined): Promise<CycleResult> {
    return runCycle(running.pipeline, SANDBOX_COMPONENT, {
      ...(previous === undefined ? {} : { previous }),
      timeoutMs: 300_000,
      signal: context.signal,
    });
  }
}

/** psql on a sandbox server over TCP, as the `postgres` role; the output as a user sees it. */
async function psql(sandbox: Sandbox, port: number, sql: string, flags: string[] = []): Promise<string> {
  const { stdout } = await execFileAsync(
    join(sandbox.active.binDir, 'psql'),
    ['-X', ...flags, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
    { timeout: 30_000 },
  );
  return stdout;
}

/** The processes still alive after a few seconds: a stopped server removes its pid file a moment before it exits. */
async function stillRunning<T extends { pid: number }>(processes: readonly T[]): Promise<T[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const left = processes.filter((process) => alive(process.pid));
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(100);
  }
}

/** Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
