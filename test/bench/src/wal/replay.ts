import { execFile } from 'node:child_process';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fetchWalFile, findSnapshot, listWal, restoreSnapshot } from '@pullback/archive';
import { runCycle, SANDBOX_COMPONENT, type Sandbox } from '@pullback/cli/demo';
import { freePort, postgresOwner } from '@pullback/harness';
import { query, startStandby, stopServer } from '@pullback/recipe-postgres';
import type { RunningPipeline } from '@pullback/workers';
import { percentile } from './figures.js';
import { pgbench } from './load.js';
import { archiveReplaySource, type ReplaySource } from './replay-source.js';
import { sandboxStream } from './wal-archive.js';

const execFileAsync = promisify(execFile);

export interface ReplayResult {
  readonly walBytes: number;
  /** The medians of the rounds, each side's. */
  readonly localSeconds: number;
  readonly archiveSeconds: number;
  /** The median of each round's local/archive: a round's two replays ran one after the other, under like load. */
  readonly speed: number;
  /** Each round: local first, then from the archive, with the archive side's agent CPU per segment (ms). */
  readonly rounds: readonly {
    readonly localSeconds: number;
    readonly archiveSeconds: number;
    readonly agentUserMs: number;
    readonly agentSystemMs: number;
  }[];
}

/**
 * The same replay twice, from the same base snapshot to the same LSN: once with the
 * WAL in the data directory's pg_wal, once through the fallbacks' restore_command
 * with their agent's prefetching spool. Each runs as a hot standby with no active to
 * stream from, timed from its start until it has replayed to the target. With
 * `rounds`, the pair is replayed that many times, one after the other (the machine's
 * other load changes from minute to minute: each pair is a fair comparison).
 */
export async function measureReplay(
  sandbox: Sandbox,
  running: RunningPipeline,
  options: { bytes: number; rounds?: number; step: (line: string) => void },
): Promise<ReplayResult> {
  const { snapshotId } = await runCycle(running.pipeline, SANDBOX_COMPONENT, { timeoutMs: 900_000 });
  const start = await sandbox.active.psql('select pg_current_wal_lsn()');
  options.step(`  writing ${(options.bytes / 1e9).toFixed(1)} GB of WAL with pgbench`);
  const load = pgbench(sandbox.active, { clients: 2, seconds: 3600 });
  let loadEnded = false;
  void load.done.then(() => {
    loadEnded = true;
  });
  for (;;) {
    if (loadEnded) throw new Error('pgbench ended before it wrote the WAL asked for');
    const written = Number(await sandbox.active.psql(`select pg_current_wal_lsn() - '${start}'::pg_lsn`));
    if (written >= options.bytes) break;
    await sleep(1000);
  }
  await load.stop();
  const target = await sandbox.active.psql('select pg_current_wal_lsn()');
  const targetSegment = await sandbox.active.psql(`select pg_walfile_name('${target}')`);
  await sandbox.active.psql('select pg_switch_wal()');
  const stream = await sandboxStream(sandbox.archive);
  for (const deadline = Date.now() + 600_000; ; await sleep(500)) {
    const names = (await listWal(sandbox.archive, stream)).filter((o) => !o.partial).map((o) => o.name);
    if (names.includes(targetSegment)) break;
    if (Date.now() > deadline) throw new Error(`segment ${targetSegment} did not reach the archive`);
  }
  // Both replays start where the snapshot's backup started.
  const snapshotStart = (await findSnapshot(sandbox.archive, snapshotId)).tags.startLsn;
  if (snapshotStart === undefined) throw new Error(`snapshot ${snapshotId} has no startLsn tag`);
  const firstSegment = await sandbox.active.psql(`select pg_walfile_name('${snapshotStart}')`);

  const replay = async (label: string, prepare: (dataDir: string) => Promise<ReplaySource>) => {
    const dataDir = join(sandbox.dir, `replay-${label}`);
    options.step(`  ${label}: restoring snapshot ${snapshotId.slice(0, 12)}`);
    await restoreSnapshot(sandbox.archive, snapshotId, { target: dataDir });
    const source = await prepare(dataDir);
    const port = await freePort();
    // Both replays start with the setup's writes (the restored snapshot, the copied
    // WAL) on disk: the kernel flushing gigabytes of them meanwhile is not the replay's.
    await execFileAsync('sync');
    const started = Date.now();
    source.beforeStart?.();
    await startStandby({
      dataDir,
      port,
      listenAddresses: '127.0.0.1',
      socketDir: sandbox.socketDir,
      verify: false,
      ...(source.restoreCommand === undefined ? {} : { restoreCommand: source.restoreCommand }),
      settings: { recovery_target_lsn: target, recovery_target_action: 'pause' },
    });
    const endpoint = { host: sandbox.socketDir, port, user: 'postgres' };
    for (;;) {
      const reached = await query(endpoint, `select pg_last_wal_replay_lsn() >= '${target}'::pg_lsn`);
      if (reached === 't') break;
      await sleep(100);
    }
    const seconds = (Date.now() - started) / 1000;
    options.step(`  ${label}: replayed to ${target} in ${seconds.toFixed(1)} s`);
    const agent = await source.stop?.();
    await stopServer({ dataDir });
    return { seconds, agent };
  };

  const owner = await postgresOwner();
  const copyWalInto = async (dataDir: string) => {
    const objects = (await listWal(sandbox.archive, stream)).filter((o) => !o.partial && !o.history);
    const wal = join(dataDir, 'pg_wal');
    await mkdir(wal, { recursive: true });
    for (const object of objects) {
      if (object.name.slice(8) > targetSegment.slice(8) || object.name.slice(8) < firstSegment.slice(8))
        continue;
      const file = await fetchWalFile(sandbox.archive, stream, object.name);
      if (file === undefined) continue;
      await writeFile(join(wal, object.name), file.content);
      if (owner) await chown(join(wal, object.name), owner.uid, owner.gid);
    }
    return {};
  };
  const rounds: ReplayResult['rounds'][number][] = [];
  for (let round = 1; round <= (options.rounds ?? 1); round++) {
    const local = await replay('local', copyWalInto);
    const archive = await replay('archive', (dataDir) => archiveReplaySource(sandbox, stream, dataDir));
    const segments = Math.max(1, archive.agent?.segments ?? 1);
    rounds.push({
      localSeconds: local.seconds,
      archiveSeconds: archive.seconds,
      agentUserMs: ((archive.agent?.userSeconds ?? 0) * 1000) / segments,
      agentSystemMs: ((archive.agent?.systemSeconds ?? 0) * 1000) / segments,
    });
    await rm(join(sandbox.dir, 'replay-local'), { recursive: true, force: true });
    await rm(join(sandbox.dir, 'replay-archive'), { recursive: true, force: true });
  }
  const walBytes = Number(
    await sandbox.active.psql(`select '${target}'::pg_lsn - '${snapshotStart}'::pg_lsn`),
  );
  return {
    walBytes,
    localSeconds: median(rounds.map((r) => r.localSeconds)),
    archiveSeconds: median(rounds.map((r) => r.archiveSeconds)),
    speed: median(rounds.map((r) => r.localSeconds / r.archiveSeconds)),
    rounds,
  };
}

const median = (values: number[]) => percentile(values, 50);
