/**
 * bench:archive: Pullback's archive against pgBackRest on the same data in the same
 * run. Builds a pgbench scale-100 cluster (override with BENCH_SCALE) and a generated
 * 2 GiB tree, then prints both tools' figures side by side with the issue's targets.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir, startPostgres } from '@pullback/harness';
import { $ } from 'zx';
import { generateTree } from './archive/generated-tree.js';
import { PgBackRest } from './archive/pgbackrest.js';
import { PullbackCli } from './archive/pullback.js';
import { ensureDebianPackages } from './archive/system.js';

const scale = Number(process.env.BENCH_SCALE ?? 100);
const MB = 1e6;

// What pgBackRest also leaves out of a backup (the directories stay, empty): WAL is
// archived separately, the rest is rebuilt by the server on start.
const dataDirExcludes = [
  'pg_wal/**/*',
  'postmaster.pid',
  'postmaster.opts',
  'pg_replslot/*',
  'pg_stat_tmp/*',
  'pg_dynshmem/*',
  'pg_notify/*',
  'pg_serial/*',
  'pg_snapshots/*',
  'pg_subtrans/*',
  'base/pgsql_tmp/*',
];

interface Row {
  readonly metric: string;
  readonly pullback: number;
  readonly pgbackrest?: number;
  readonly unit: string;
  /** The largest acceptable Pullback/pgBackRest ratio, when the issue sets one. */
  readonly maxRatio?: number;
}

const rows: Row[] = [];
const step = (text: string) => console.error(`bench: ${text}`);

async function main(): Promise<void> {
  await ensureDebianPackages({ pgbackrest: 'pgbackrest', '/usr/bin/time': 'time' });
  const scratch = await scratchDir('bench-archive');
  // pgBackRest runs as postgres and must reach its files under here.
  await chmod(scratch.path, 0o755);
  const backrest = new PgBackRest(join(scratch.path, 'pgbackrest'));
  const pullback = new PullbackCli(join(scratch.path, 'pullback'));
  await mkdir(join(scratch.path, 'pullback'), { recursive: true });
  const server = await startPostgres({
    settings: {
      archive_mode: 'on',
      archive_command: `'${backrest.archiveCommand()}'`,
      max_wal_size: "'4GB'",
    },
  });
  try {
    await backrest.configure(server);
    await pullback.init();
    const pgbench = join(server.binDir, 'pgbench');
    const url = server.connectionString();

    step(`pgbench -i -s ${scale}`);
    await $`${pgbench} -i -q -s ${scale} ${url}`.quiet();
    await server.psql('checkpoint');

    step('full backups');
    const fullBackrest = await backrest.backup('full');
    const fullPullback = await pullback.backup(server.dataDir, dataDirExcludes);
    rows.push({
      metric: 'full backup time',
      pullback: fullPullback.seconds,
      pgbackrest: fullBackrest.seconds,
      unit: 's',
      maxRatio: 1.0,
    });
    rows.push({
      metric: 'full backup CPU',
      pullback: fullPullback.cpuSeconds,
      pgbackrest: fullBackrest.cpuSeconds,
      unit: 's',
    });
    rows.push({
      metric: 'full backup stored',
      pullback: fullPullback.storedBytes / MB,
      pgbackrest: fullBackrest.storedBytes / MB,
      unit: 'MB',
    });

    step('unchanged re-backup');
    const again = await pullback.backup(server.dataDir, dataDirExcludes);
    rows.push({
      metric: 'unchanged re-backup time',
      pullback: again.seconds,
      unit: `s (${(fullPullback.seconds / again.seconds).toFixed(1)}x faster than full; target >= 3x)`,
    });

    step('contiguous 1% UPDATE');
    await server.psql(`update pgbench_accounts set abalance = abalance + 1 where aid <= ${scale * 1000}`);
    await server.psql('checkpoint');
    const updateBackrest = await backrest.backup('incr');
    const updatePullback = await pullback.backup(server.dataDir, dataDirExcludes);
    rows.push({
      metric: 'incr after 1% UPDATE, stored',
      pullback: updatePullback.storedBytes / MB,
      pgbackrest: updateBackrest.storedBytes / MB,
      unit: 'MB',
      maxRatio: 1.0,
    });
    rows.push({
      metric: 'incr after 1% UPDATE, time',
      pullback: updatePullback.seconds,
      pgbackrest: updateBackrest.seconds,
      unit: 's',
    });

    step('20 s of pgbench -c 4');
    await $`${pgbench} -c 4 -j 2 -T 20 -n ${url}`.quiet();
    await server.psql('checkpoint');
    const loadBackrest = await backrest.backup('incr');
    const loadPullback = await pullback.backup(server.dataDir, dataDirExcludes);
    rows.push({
      metric: 'incr after pgbench load, stored',
      pullback: loadPullback.storedBytes / MB,
      pgbackrest: loadBackrest.storedBytes / MB,
      unit: 'MB',
      maxRatio: 0.5,
    });
    rows.push({
      metric: 'incr after pgbench load, time',
      pullback: loadPullback.seconds,
      pgbackrest: loadBackrest.seconds,
      unit: 's',
    });

    step('restore into an empty directory');
    const backrestTarget = join(scratch.path, 'restore-pgbackrest');
    const pullbackTarget = join(scratch.path, 'restore-pullback');
    const restoreBackrest = await backrest.restore(backrestTarget);
    const restorePullback = await pullback.restore(pullbackTarget);
    rows.push({
      metric: 'restore latest',
      pullback: restorePullback.seconds,
      pgbackrest: restoreBackrest.seconds,
      unit: 's',
      maxRatio: 1.0,
    });

    step('delta restore from the latest back to the first');
    const deltaBackrest = await backrest.restore(backrestTarget, { index: 0, delta: true });
    const deltaPullback = await pullback.restore(pullbackTarget, { index: 0, delta: true });
    rows.push({
      metric: 'delta restore latest -> first',
      pullback: deltaPullback.seconds,
      pgbackrest: deltaBackrest.seconds,
      unit: 's',
      maxRatio: 0.8,
    });
    await rm(backrestTarget, { recursive: true, force: true });
    await rm(pullbackTarget, { recursive: true, force: true });
  } finally {
    await server.stop();
  }

  step('generated 2 GiB tree');
  const tree = join(scratch.path, 'tree');
  const generated = await generateTree(tree);
  const treeFull = await pullback.backup(tree);
  rows.push({
    metric: `tree full backup (${(generated.bytes / MB).toFixed(0)} MB, ${generated.files} files)`,
    pullback: treeFull.seconds,
    unit: `s (${(generated.bytes / MB / treeFull.seconds).toFixed(0)} MB/s)`,
  });
  rows.push({ metric: 'tree full backup stored', pullback: treeFull.storedBytes / MB, unit: 'MB' });
  const treeAgain = await pullback.backup(tree);
  rows.push({ metric: 'tree unchanged re-backup', pullback: treeAgain.seconds, unit: 's' });
  const treeTarget = join(scratch.path, 'restore-tree');
  const treeRestore = await pullback.restore(treeTarget);
  rows.push({
    metric: 'tree restore',
    pullback: treeRestore.seconds,
    unit: `s (${(generated.bytes / MB / treeRestore.seconds).toFixed(0)} MB/s)`,
  });
  rows.push({
    metric: 'Pullback peak RSS (any command)',
    pullback: pullback.peakRssMB,
    unit: 'MB (target < 300)',
  });
  await scratch.remove();

  printTable();
}

function printTable(): void {
  const format = (value: number | undefined) =>
    value === undefined ? '' : value.toFixed(value < 10 ? 2 : 1);
  const lines = rows.map((row) => {
    const ratio = row.pgbackrest ? row.pullback / row.pgbackrest : undefined;
    const verdict =
      ratio === undefined || row.maxRatio === undefined
        ? ''
        : ratio <= row.maxRatio
          ? `ok (<= ${row.maxRatio}x)`
          : `MISSED (<= ${row.maxRatio}x)`;
    return [
      row.metric,
      format(row.pullback),
      format(row.pgbackrest),
      ratio === undefined ? '' : `${ratio.toFixed(2)}x`,
      verdict,
      row.unit,
    ];
  });
  const header = ['metric', 'Pullback', 'pgBackRest', 'ratio', 'target', 'unit'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  for (const line of [header, ...lines])
    console.log(line.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
}

await main();
