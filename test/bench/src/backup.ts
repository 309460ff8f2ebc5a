/**
 * bench:backup: `pullback backup <component>` (export, then pull: the path a user of
 * the pipeline takes) beside pgBackRest on the same running pgbench cluster, in one
 * run, the page cache dropped before each step. For each step: wall time, the backup
 * tool's CPU (its processes and their children), the server's CPU (what the step cost
 * PostgreSQL on the active's host), peak RSS and bytes stored, with issue 12's
 * targets. BENCH_SCALE (default 100) sets pgbench's scale. The export agent takes the
 * backup itself, incremental, as a pipeline's config does by default; BENCH_OWN_BACKUP=0
 * measures pg_basebackup's path instead (`physical: { ownBackup: false }`).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type PostgresServer, scratchDir, startPostgres } from '@pullback/harness';
import { $ } from 'zx';
import { PgBackRest } from './archive/pgbackrest.js';
import { ensureDebianPackages } from './archive/system.js';
import type { Cost } from './archive/timed.js';
import { dropCaches } from './backup/drop-caches.js';
import { PullbackComponent } from './backup/pullback-component.js';
import { serverCpuSeconds } from './backup/server-cpu.js';

const scale = Number(process.env.BENCH_SCALE ?? 100);
const MB = 1e6;
const step = (text: string) => console.error(`bench: ${text}`);

interface Measured extends Cost {
  readonly serverCpuSeconds: number;
  readonly storedBytes?: number;
}

interface Row {
  readonly step: string;
  readonly pullback: Measured;
  readonly pgbackrest: Measured;
  /** The largest acceptable Pullback/pgBackRest time ratio, when the issue sets one. */
  readonly maxTimeRatio?: number;
  /** The largest acceptable stored-bytes ratio, when the issue sets one. */
  readonly maxBytesRatio?: number;
}

let cachesDropped = true;

/** Runs one tool's step on a cold cache and adds the server's CPU over it. */
async function measured<T extends Cost>(
  server: PostgresServer,
  run: () => Promise<T>,
): Promise<T & Measured> {
  cachesDropped = (await dropCaches()) && cachesDropped;
  const before = await serverCpuSeconds(server.dataDir);
  const cost = await run();
  return { ...cost, serverCpuSeconds: (await serverCpuSeconds(server.dataDir)) - before };
}

async function main(): Promise<void> {
  await ensureDebianPackages({ pgbackrest: 'pgbackrest', '/usr/bin/time': 'time' });
  const scratch = await scratchDir('bench-backup');
  await chmod(scratch.path, 0o755);
  const backrest = new PgBackRest(join(scratch.path, 'pgbackrest'));
  const pullback = new PullbackComponent(
    join(scratch.path, 'pullback'),
    process.env.BENCH_OWN_BACKUP !== '0',
  );
  await mkdir(join(scratch.path, 'pullback'), { recursive: true });
  const server = await startPostgres({
    settings: {
      archive_mode: 'on',
      archive_command: `'${backrest.archiveCommand()}'`,
      max_wal_size: "'4GB'",
    },
  });
  const rows: Row[] = [];
  try {
    await backrest.configure(server);
    await pullback.initFor(server);
    const pgbench = join(server.binDir, 'pgbench');
    const url = server.connectionString();
    step(`pgbench -i -s ${scale}`);
    await $`${pgbench} -i -q -s ${scale} ${url}`.quiet();
    await server.psql('checkpoint');

    const backups = async (name: string, kind: 'full' | 'incr', targets: Partial<Row> = {}) => {
      step(name);
      const pgbackrest = await measured(server, () => backrest.backup(kind));
      const ours = await measured(server, () => pullback.backupComponent());
      rows.push({ step: name, pullback: ours, pgbackrest, ...targets });
    };
    await backups('full backup', 'full', { maxTimeRatio: 0.8 });

    await server.psql(`update pgbench_accounts set abalance = abalance + 1 where aid <= ${scale * 1000}`);
    await server.psql('checkpoint');
    await backups('incremental after a contiguous 1% UPDATE', 'incr', {
      maxTimeRatio: 0.6,
      maxBytesRatio: 1,
    });

    step('20 s of pgbench -c 4');
    await $`${pgbench} -c 4 -j 2 -T 20 -n ${url}`.quiet();
    await server.psql('checkpoint');
    await backups('incremental after 20 s of pgbench', 'incr');

    await backups('nothing changed', 'incr', { maxTimeRatio: 0.3 });

    const backrestTarget = join(scratch.path, 'restore-pgbackrest');
    const pullbackTarget = join(scratch.path, 'restore-pullback');
    step('restore the newest into an empty directory');
    rows.push({
      step: 'restore',
      pgbackrest: await measured(server, () => backrest.restore(backrestTarget)),
      pullback: await measured(server, () => pullback.restore(pullbackTarget)),
    });
    step('delta restore from the newest back to the first');
    rows.push({
      step: 'delta restore newest -> first',
      pgbackrest: await measured(server, () => backrest.restore(backrestTarget, { index: 0, delta: true })),
      pullback: await measured(server, () => pullback.restore(pullbackTarget, { index: 0, delta: true })),
    });
    await rm(backrestTarget, { recursive: true, force: true });
    await rm(pullbackTarget, { recursive: true, force: true });
  } finally {
    await server.stop();
  }
  await scratch.remove();
  printTable(rows);
}

function printTable(rows: readonly Row[]): void {
  const seconds = (value: number) => value.toFixed(value < 10 ? 2 : 1);
  const verdict = (ratio: number, max: number | undefined) =>
    max === undefined ? '' : ratio <= max ? ` ok (<= ${max}x)` : ` MISSED (<= ${max}x)`;
  const lines = rows.map((row) => {
    const { pullback: p, pgbackrest: b } = row;
    const timeRatio = p.seconds / b.seconds;
    const bytes =
      p.storedBytes === undefined || b.storedBytes === undefined
        ? ''
        : `${(p.storedBytes / MB).toFixed(1)} / ${(b.storedBytes / MB).toFixed(1)}` +
          (b.storedBytes > 0
            ? ` (${(p.storedBytes / b.storedBytes).toFixed(2)}x${verdict(p.storedBytes / b.storedBytes, row.maxBytesRatio)})`
            : '');
    return [
      row.step,
      `${seconds(p.seconds)} / ${seconds(b.seconds)}`,
      `${timeRatio.toFixed(2)}x${verdict(timeRatio, row.maxTimeRatio)}`,
      `${seconds(p.cpuSeconds)} / ${seconds(b.cpuSeconds)}`,
      `${seconds(p.serverCpuSeconds)} / ${seconds(b.serverCpuSeconds)}`,
      `${p.peakRssMB.toFixed(0)} / ${b.peakRssMB.toFixed(0)}`,
      bytes,
    ];
  });
  const header = [
    'step (Pullback / pgBackRest)',
    'wall s',
    'time ratio',
    'tool CPU s',
    'server CPU s',
    'peak RSS MB',
    'stored MB',
  ];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  console.log(
    `pgbench scale ${scale}; page cache ${cachesDropped ? 'dropped before each step' : 'NOT dropped (not permitted here): warm-cache figures'}`,
  );
  for (const line of [header, ...lines])
    console.log(line.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
  const peak = Math.max(...rows.map((row) => row.pullback.peakRssMB));
  console.log(
    `Pullback's peak RSS, any command: ${peak.toFixed(0)} MB${verdict(peak / 300, 1).replace('1x', '300 MB')}`,
  );
}

await main();
