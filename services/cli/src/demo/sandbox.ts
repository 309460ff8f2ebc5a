import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Archive, initArchive } from '@pullback/archive';
import {
  freePort,
  type PostgresServer,
  postgresOwner,
  type RedisServer,
  type S3Server,
  startPostgres,
  startRedis,
  startS3,
} from '@pullback/harness';
import { type Config, loadConfig } from '@pullback/pipeline';
import { builtInRecipe, type RunningPipeline, type StartAllOptions, startAll } from '@pullback/workers';

const execFileAsync = promisify(execFile);

/** The component every sandbox protects. */
export const SANDBOX_COMPONENT = 'shop';
const BUCKET = 'pullback';

export interface SandboxOptions {
  /** pgbench scale of the active's generated data (1 is about 16 MB). */
  readonly scale: number;
  /** Where the archive lives: an S3-compatible server (s3rver) or a directory. */
  readonly archive: 's3' | 'fs';
  /** `physical.ownBackup` in the config: false for pg_basebackup always. Default: unset (the agent's own backup, as its host can read the data directory). */
  readonly ownBackup?: boolean;
  /** Told what is being started, one line each. */
  readonly log?: (line: string) => void;
  /** Where the workers' errors that belong to no job go. Default: one line on stderr. */
  readonly onError?: (error: Error, where: string) => void;
  readonly signal?: AbortSignal;
}

/** A fallback of the sandbox: where it will run once an import started it. */
export interface SandboxFallback {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
}

/** A server the sandbox started, by process id, so that a caller can check it is gone. */
export interface SandboxProcess {
  readonly name: string;
  readonly pid: number;
}

/**
 * A whole Pullback installation on one machine, in one temporary directory: Redis,
 * an archive (on s3rver or a directory), an active PostgreSQL with pgbench data and
 * a `marker` table, two fallbacks (data directories and ports, started by imports),
 * a pullback.yaml and a key file. The demo and bench:pipeline share it.
 */
export interface Sandbox {
  readonly dir: string;
  readonly configPath: string;
  readonly config: Config;
  readonly keyFile: string;
  readonly archive: Archive;
  readonly active: PostgresServer;
  readonly redis: RedisServer;
  readonly s3: S3Server | undefined;
  readonly fallbacks: readonly SandboxFallback[];
  /** Where fallbacks and audit servers put their Unix sockets. */
  readonly socketDir: string;
  /** The environment a `pullback` command needs to use this sandbox (config, S3 credentials). */
  readonly env: Readonly<Record<string, string>>;
  /** Starts every worker in this process against the sandbox (see `startAll`). */
  startWorkers(options?: Partial<StartAllOptions>): Promise<RunningPipeline>;
  /** Every server running now: Redis, S3, the active, and the fallbacks and audits started since. */
  processes(): Promise<SandboxProcess[]>;
  /** Stops a server started on a data directory in the sandbox when it closes (an audit). */
  adopt(dataDir: string): void;
  /** Stops the workers, every server, and removes the directory. Safe to call twice. */
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const log = options.log ?? (() => {});
  // The fallbacks' and audits' servers, as the recipe that starts them runs them.
  const servers = builtInRecipe('postgres')?.localServers;
  if (servers === undefined) throw new Error('the postgres recipe does not say how it runs its servers');
  const cleanups: (() => Promise<unknown>)[] = [];
  const dataDirs: string[] = [];
  const running: RunningPipeline[] = [];
  let stopping = false;
  // Workers still reporting while everything shuts down hit closed connections: that is
  // the shutdown, not news.
  const onError = (error: Error, where: string) => {
    if (stopping) return;
    if (options.onError === undefined) process.stderr.write(`pullback: ${where}: ${error.message}\n`);
    else options.onError(error, where);
  };
  let activeDataDir: string | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stopping = true;
      for (const pipeline of running) await pipeline.close().catch(() => {});
      // Servers started with pg_ctl outlive this process unless they are stopped.
      for (const dataDir of dataDirs) await servers.stop(dataDir, { timeoutSeconds: 30 }).catch(() => {});
      // An agent may have started the active's data directory itself (an old active that rejoined).
      if (activeDataDir !== undefined)
        await servers.stop(activeDataDir, { timeoutSeconds: 30 }).catch(() => {});
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    })();
    return closing;
  };

  try {
    const dir = await mkdtemp(join(tmpdir(), 'pullback-demo-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // PostgreSQL runs as `postgres` when we are root: it must reach its directories here.
    await chmod(dir, 0o755);
    const socketDir = join(dir, 'socket');
    await mkdir(socketDir);
    const owner = await postgresOwner();
    if (owner) await chown(socketDir, owner.uid, owner.gid);
    options.signal?.throwIfAborted();

    let s3: S3Server | undefined;
    let archiveUrl = join(dir, 'archive');
    const env: Record<string, string> = {};
    if (options.archive === 's3') {
      log('starting an S3-compatible server (s3rver)');
      await mkdir(join(dir, 's3'));
      s3 = await startS3({ buckets: [BUCKET], dir: join(dir, 's3') });
      cleanups.push(() => s3!.stop());
      // The archive's S3 driver reads the standard AWS variables, in this process too.
      Object.assign(process.env, s3.env);
      Object.assign(env, s3.env);
      archiveUrl = `s3://${BUCKET}/archive`;
    }
    log('starting redis-server');
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    options.signal?.throwIfAborted();

    log('starting the active PostgreSQL');
    const active = await startPostgres({
      // A WAL receiver that is down may hold back this much WAL on the active, no more (docs/wal.md).
      // wal_keep_size: an old active rejoins with pg_rewind, which needs the WAL back to the fork.
      settings: { max_wal_size: "'1GB'", max_slot_wal_keep_size: "'4GB'", wal_keep_size: "'512MB'" },
    });
    cleanups.push(() => active.stop());
    activeDataDir = active.dataDir;
    log(`generating data: pgbench -i -s ${options.scale}`);
    await execFileAsync(
      join(active.binDir, 'pgbench'),
      ['-i', '-q', '-s', String(options.scale), '-d', active.connectionString()],
      { signal: options.signal, maxBuffer: 16 * 1024 * 1024 },
    );
    await active.psql(
      `create table marker (id serial primary key, note text not null, at timestamptz not null default now());
       insert into marker (note) values ('written before the first snapshot')`,
    );
    options.signal?.throwIfAborted();

    const fallbacks: SandboxFallback[] = [];
    for (const name of ['shop-b', 'shop-c']) {
      const dataDir = join(dir, name);
      fallbacks.push({ name, port: await freePort(), dataDir });
      dataDirs.push(dataDir);
    }
    // Each instance's agent (`pullback up --instance`, sandboxHosts) listens here.
    const agentPorts = new Map<string, number>();
    for (const name of ['shop-a', ...fallbacks.map((fallback) => fallback.name)]) {
      agentPorts.set(name, await freePort());
    }
    const agent = (name: string) => `, agent: { port: ${agentPorts.get(name)}, host: 127.0.0.1 }`;
    const keyFile = join(dir, 'archive.key');
    const configPath = join(dir, 'pullback.yaml');
    await writeFile(
      configPath,
      [
        '# written by `pullback demo` for its sandbox',
        `redis: ${redis.url}`,
        'archive:',
        `  url: ${archiveUrl}`,
        `  keyFile: ${keyFile}`,
        `stateDir: ${join(dir, 'state')}`,
        `agentToken: ${randomBytes(24).toString('hex')}`,
        'components:',
        `  ${SANDBOX_COMPONENT}:`,
        '    recipe: postgres',
        '    retention: { keepLast: 10 }',
        ...(options.ownBackup === undefined
          ? []
          : [`    physical: { ownBackup: ${String(options.ownBackup)} }`]),
        `    outbox: ${join(dir, 'outbox', SANDBOX_COMPONENT)}`,
        '    instances:',
        `      - { name: shop-a, role: active, host: 127.0.0.1, port: ${active.port}, dataDir: ${active.dataDir}, priority: 100${agent('shop-a')} }`,
        ...fallbacks.map(
          (fallback, index) =>
            `      - { name: ${fallback.name}, role: fallback, host: 127.0.0.1, port: ${fallback.port}, dataDir: ${fallback.dataDir}, priority: ${50 - index * 10}${agent(fallback.name)} }`,
        ),
        '',
      ].join('\n'),
    );
    const config = await loadConfig(configPath);
    const { archive } = await initArchive({ archive: archiveUrl, keyFile });

    return {
      dir,
      configPath,
      config,
      keyFile,
      archive,
      active,
      redis,
      s3,
      fallbacks,
      socketDir,
      env: { PULLBACK_CONFIG: configPath, ...env },
      startWorkers: async (extra = {}) => {
        const pipeline = await startAll(config, {
          archive,
          stagingDir: join(dir, 'staging'),
          postgres: { socketDir },
          // Fresh enough for `status` in a demo; each report runs psql on both fallbacks,
          // which at 1 s took a second of CPU from a 15 s cycle.
          positionIntervalMs: 5000,
          retry: { attempts: 3, backoffMs: 1000 },
          onError,
          ...extra,
          // No election in this process: it has no agents to activate (sandboxHosts runs them).
          roles: { export: true, pull: true, import: true, election: false, ...extra.roles },
        });
        running.push(pipeline);
        return pipeline;
      },
      processes: async () => {
        const found: SandboxProcess[] = [
          { name: 'redis-server', pid: redis.pid },
          ...(s3 === undefined ? [] : [{ name: 's3rver', pid: s3.pid }]),
        ];
        // The active's data directory runs the harness's server, or the one its agent
        // started again after a failover (the old active, rejoined as a fallback).
        const activeNow = await servers.status(active.dataDir);
        found.push({
          name: 'postgres shop-a',
          pid: activeNow.running && activeNow.pid !== undefined ? activeNow.pid : active.pid,
        });
        for (const dataDir of dataDirs) {
          const status = await servers.status(dataDir);
          if (status.running && status.pid !== undefined) {
            found.push({ name: `postgres ${dataDir.slice(dir.length + 1)}`, pid: status.pid });
          }
        }
        return found;
      },
      adopt: (dataDir) => {
        dataDirs.push(dataDir);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
